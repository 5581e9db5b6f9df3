-- dwsbox store, version 10: the read-only protection of a cluster's data disk (issue 16,
-- CancelReadonlyCluster; domain/read-only.ts). NULL: armed (the disk is watched); 'ON': the
-- cluster is read-only because a member's data passed the threshold; 'LIFTED': a user lifted
-- it, and the protection arms again once the data is back below the threshold.
ALTER TABLE clusters ADD COLUMN read_only TEXT;
