// An answer's tables (agent/chat_ui.py `result_tables`, props from services/presentable.py
// `Table.for_chat`): stacked, each titled, cells as the answer text writes them, sorted by their raw
// values, long ad ids shortened (the full id on hover, a click copies it), and each table's CSV.
import { useMemo, useState } from 'react';
import { ArrowDown, ArrowUp, Download } from 'lucide-react';
import { toast } from 'sonner';
import {
  Table,
  TableBody,
  TableCell,
  TableHead,
  TableHeader,
  TableRow
} from '@/components/ui/table';

function compare(a, b) {
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  return String(a).localeCompare(String(b), undefined, { numeric: true, sensitivity: 'base' });
}

function fileName(title) {
  const slug = title.replace(/[^A-Za-z0-9]+/g, '-').replace(/^-+|-+$/g, '').toLowerCase();
  return (slug || 'table') + '.csv';
}

function copyId(id) {
  // The clipboard needs a secure page (https or localhost); elsewhere the tooltip still shows the id.
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(id).then(() => toast.success('Copied ad ID ' + id));
  }
}

function OneTable({ table }) {
  const [sort, setSort] = useState(null); // {column, descending}
  const order = useMemo(() => {
    const indexes = table.rows.map((_, i) => i);
    if (!sort) return indexes;
    return indexes.sort((i, j) => {
      const a = table.values[i][sort.column];
      const b = table.values[j][sort.column];
      if (a === null || a === undefined) return b === null || b === undefined ? i - j : 1; // n/a last
      if (b === null || b === undefined) return -1;
      const c = compare(a, b);
      return (sort.descending ? -c : c) || i - j;
    });
  }, [table, sort]);
  // A data URL, not a blob one: nothing to revoke, so the link works whenever the table was drawn
  // again. A BOM so spreadsheet apps read the file as UTF-8 (em dashes, accents).
  const csvUrl = useMemo(
    () => 'data:text/csv;charset=utf-8,' + encodeURIComponent('\ufeff' + table.csv),
    [table.csv]
  );

  const toggle = (column) =>
    setSort((now) => {
      // Numbers start highest first (what a marketer looks for), text A to Z.
      const first = table.columns[column].kind === 'number';
      if (!now || now.column !== column) return { column, descending: first };
      if (now.descending === first) return { column, descending: !first };
      return null;
    });

  return (
    <section className="vt-table" data-title={table.title}>
      <div className="vt-table-head">
        <h4 className="vt-table-title">{table.title}</h4>
        {csvUrl ? (
          <a className="vt-table-csv" href={csvUrl} download={fileName(table.title)}>
            <Download className="vt-icon" /> CSV
          </a>
        ) : null}
      </div>
      <div className="vt-table-scroll dataframe">
        <Table>
          <TableHeader>
            <TableRow>
              {table.columns.map((column, c) => (
                <TableHead
                  key={c}
                  className={'vt-th vt-' + column.kind}
                  aria-sort={sort && sort.column === c ? (sort.descending ? 'descending' : 'ascending') : 'none'}
                  onClick={() => toggle(c)}
                >
                  {column.title}
                  {sort && sort.column === c ? (
                    sort.descending ? <ArrowDown className="vt-icon" /> : <ArrowUp className="vt-icon" />
                  ) : null}
                </TableHead>
              ))}
            </TableRow>
          </TableHeader>
          <TableBody>
            {order.map((r) => (
              <TableRow key={r}>
                {table.rows[r].map((cell, c) =>
                  table.columns[c].kind === 'id' && table.values[r][c] ? (
                    <TableCell
                      key={c}
                      className="vt-id"
                      title={'Ad ID ' + table.values[r][c] + ' (click to copy)'}
                      onClick={() => copyId(String(table.values[r][c]))}
                    >
                      {cell}
                    </TableCell>
                  ) : (
                    <TableCell key={c} className={'vt-' + table.columns[c].kind}>
                      {cell}
                    </TableCell>
                  )
                )}
              </TableRow>
            ))}
          </TableBody>
        </Table>
      </div>
    </section>
  );
}

export default function ResultTables() {
  return (
    <div className="vt-tables">
      {props.tables.map((table, i) => (
        <OneTable key={i} table={table} />
      ))}
    </div>
  );
}
