-- dwsbox store, version 8: each cluster's maintenance window (issue 16, UpdateMaintenanceWindow;
-- domain/maintenance-window.ts), JSON {day, startTime, endTime} in UTC. Clusters made before
-- it get the window the detail showed until then, which is also a new cluster's default.
ALTER TABLE clusters ADD COLUMN maintain_window TEXT NOT NULL DEFAULT '{"day":"Thu","startTime":"22:00","endTime":"02:00"}';
