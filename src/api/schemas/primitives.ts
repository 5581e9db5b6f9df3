/** The schema primitives every route uses: the DWS error body and its responses, path parameters, tags, nullable fields. */
import { Type, type TSchema, type Static } from '@sinclair/typebox';

export const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()]);

export const ErrorBody = Type.Object(
  { error_code: Type.String(), error_msg: Type.String() },
  { $id: 'ErrorBody', description: 'DWS error' },
);
export type ErrorBody = Static<typeof ErrorBody>;

/** The error responses every authenticated route documents. */
export const errorResponses = {
  400: ErrorBody,
  401: ErrorBody,
  403: ErrorBody,
  404: ErrorBody,
  409: ErrorBody,
  429: ErrorBody,
  500: ErrorBody,
  503: ErrorBody,
} as const;

export const ProjectParams = Type.Object({ project_id: Type.String({ maxLength: 64 }) });
/** A page of a list (ListClusters, ListSnapshots): a dwsbox extension, the SDK sends neither. */
export const PageQuery = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
  offset: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
});
export const ClusterParams = Type.Object({ project_id: Type.String({ maxLength: 64 }), cluster_id: Type.String({ maxLength: 64 }) });
export const SnapshotParams = Type.Object({ project_id: Type.String({ maxLength: 64 }), snapshot_id: Type.String({ maxLength: 64 }) });

export const Tag = Type.Object({ key: Type.String({ maxLength: 128 }), value: Type.String({ maxLength: 255 }) });
export const Empty = Type.Object({});
export const JobId = Type.Object({ job_id: Type.String() });
