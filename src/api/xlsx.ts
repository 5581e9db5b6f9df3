/**
 * A spreadsheet answer (issue 16: ExportDatabaseUsers, ExportUserAuthority, which DWS answers
 * with an XLSX file): one sheet, a bold header row, every cell written as the type of its value
 * (text as text, never a formula: a name that starts with `=` stays a name), built with
 * write-excel-file. Sent as `application/octet-stream`, as the SDK expects of a file stream.
 */
import writeXlsxFile, { type SheetData } from 'write-excel-file/node';
import type { FastifyReply } from 'fastify';

export type XlsxValue = string | number | boolean | null;

export async function xlsxOf(header: readonly string[], rows: readonly (readonly XlsxValue[])[]): Promise<Buffer> {
  const data: SheetData = [
    header.map((h) => ({ value: h, type: String, fontWeight: 'bold' as const })),
    ...rows.map((r) =>
      r.map((v) =>
        v === null
          ? null
          : typeof v === 'number'
            ? { value: v, type: Number }
            : typeof v === 'boolean'
              ? { value: v, type: Boolean }
              : { value: v, type: String },
      ),
    ),
  ];
  return writeXlsxFile(data).toBuffer();
}

/** The file as an attachment named `name` (ASCII only: it is the cluster's name and a fixed suffix). */
export function sendXlsx(reply: FastifyReply, name: string, file: Buffer): FastifyReply {
  return reply
    .header('content-type', 'application/octet-stream')
    .header('content-disposition', `attachment; filename="${name.replace(/[^A-Za-z0-9._-]/g, '_')}.xlsx"`)
    .send(file);
}
