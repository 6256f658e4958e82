package dev.gale.bench.report;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

/**
 * A measurement that is not one op at one shape (program build times, launch overhead), shown by the report as its
 * own Markdown table and stored in the JSON under {@code tables}.
 *
 * @param title the table's heading
 * @param columns column headings
 * @param rows cells, one list per row, as many as there are columns
 * @param notes how the numbers were made, printed under the table
 */
public record Table(String title, List<String> columns, List<List<String>> rows, List<String> notes) {
    public Table {
        columns = List.copyOf(columns);
        List<List<String>> copy = new ArrayList<>();
        for (List<String> r : rows) {
            if (r.size() != columns.size()) {
                throw new IllegalArgumentException("table '" + title + "': row " + r + " has " + r.size()
                        + " cells for " + columns.size() + " columns");
            }
            copy.add(List.copyOf(r));
        }
        rows = List.copyOf(copy);
        notes = List.copyOf(notes);
    }

    public String markdown() {
        StringBuilder b = new StringBuilder();
        b.append("## ").append(title).append("\n\n");
        b.append("|");
        for (String c : columns) {
            b.append(' ').append(Report.cell(c)).append(" |");
        }
        b.append("\n|");
        b.append("---|".repeat(columns.size()));
        b.append('\n');
        for (List<String> r : rows) {
            b.append("|");
            for (String c : r) {
                b.append(' ').append(Report.cell(c)).append(" |");
            }
            b.append('\n');
        }
        if (!notes.isEmpty()) {
            b.append('\n');
            for (String n : notes) {
                b.append("- ").append(n).append('\n');
            }
        }
        return b.toString();
    }

    Map<String, Object> toJson() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("title", title);
        m.put("columns", columns);
        m.put("rows", rows);
        m.put("notes", notes);
        return m;
    }
}
