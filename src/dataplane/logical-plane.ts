/**
 * The logical part of the data plane (D15, D22): dumps and loads of chosen objects — schema-
 * and table-level snapshots (`pg_dump -Fd`), table restores through a temporary instance or a
 * scratch database, with the renames and TOC filtering of D15 — and the catalog reads they
 * and their requests need. Implemented by the engines with the rest of `DataPlane`.
 */
export interface LogicalDataPlane {
}
