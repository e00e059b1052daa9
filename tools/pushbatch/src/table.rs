//! Plain-text tables for terminal output.

/// Left-aligned columns separated by two spaces, header underlined.
pub fn render(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let header: Vec<String> = headers.iter().map(|h| h.to_string()).collect();
    push_row(&mut out, &widths, &header);
    let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
    push_row(&mut out, &widths, &rule);
    for row in rows {
        push_row(&mut out, &widths, row);
    }
    out
}

fn push_row(out: &mut String, widths: &[usize], cells: &[String]) {
    let mut line = String::new();
    for (index, (cell, &width)) in cells.iter().zip(widths).enumerate() {
        if index > 0 {
            line.push_str("  ");
        }
        line.push_str(cell);
        let pad = width.saturating_sub(cell.chars().count());
        line.extend(std::iter::repeat_n(' ', pad));
    }
    out.push_str(line.trim_end());
    out.push('\n');
}

#[cfg(test)]
mod tests {
    #[test]
    fn aligns_columns() {
        let text = super::render(
            &["part", "pid"],
            &[vec!["moto".into(), "12".into()], vec!["event-plane".into(), "7".into()]],
        );
        assert_eq!(text, "part         pid\n-----------  ---\nmoto         12\nevent-plane  7\n");
    }
}
