//! HTML building blocks. Pages are small and server-rendered with
//! `format!`; every value from outside goes through [`esc`], which is short
//! enough to read in full, so no template engine (and its macro build time
//! on a 2-core machine) is needed.

/// Escapes text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;max-width:46rem;margin:2rem auto;padding:0 1rem;color:#1b1b1b;line-height:1.45}\
h1{font-size:1.5rem}label{display:block;font-weight:600;margin-top:1rem}\
input[type=text],input[type=email],textarea{width:100%;box-sizing:border-box;padding:.45rem;border:1px solid #767676;border-radius:4px;font:inherit}\
textarea{min-height:5rem}.hint{color:#555;font-size:.9rem;margin:.2rem 0}\
.error{color:#b00020;font-weight:600;margin:.25rem 0}[aria-invalid=true]{border-color:#b00020!important;border-width:2px!important}\
fieldset{border:1px solid #ccc;border-radius:6px;margin-top:1rem}legend{font-weight:600}\
button{margin-top:1.2rem;padding:.6rem 1.2rem;font:inherit;font-weight:600;border-radius:6px;border:0;background:#0b57d0;color:#fff;cursor:pointer}\
button.danger{background:#b00020}button.secondary{background:#555}\
.notice{padding:.75rem 1rem;border-radius:6px;background:#eef3fd;border:1px solid #0b57d0}\
.notice.bad{background:#fdeeee;border-color:#b00020}.notice.good{background:#eefbef;border-color:#137333}\
dl{display:grid;grid-template-columns:max-content 1fr;gap:.3rem 1rem}dt{font-weight:600}dd{margin:0}\
pre{background:#f4f4f4;padding:.6rem;overflow-x:auto;white-space:pre-wrap;word-break:break-word;font-size:.85rem}\
table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.25rem .6rem;text-align:left}";

/// A whole page. `refresh` makes the page reload itself (the status page
/// while a job runs), which needs no JavaScript.
pub fn page(title: &str, body: &str, refresh: Option<u32>) -> String {
    let refresh = refresh.map(|s| format!("<meta http-equiv=\"refresh\" content=\"{s}\">")).unwrap_or_default();
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">{refresh}\
         <title>{} · pushbatch</title><style>{STYLE}</style></head>\
         <body><main>{body}</main></body></html>",
        esc(title)
    )
}

/// A page that only says something (refusals, results, errors).
pub fn message(title: &str, kind: &str, text: &str, extra: &str) -> String {
    page(
        title,
        &format!(
            "<h1>{}</h1><div class=\"notice {kind}\" role=\"status\"><p>{}</p></div>{extra}",
            esc(title),
            esc(text)
        ),
        None,
    )
}

/// Unix seconds as `2025-01-31 14:05 UTC`.
pub fn time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
        .unwrap_or_else(|| secs.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_markup_and_quotes() {
        assert_eq!(
            esc(r#"<script>alert("x")</script> & 'y'"#),
            "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; &#39;y&#39;"
        );
        let p = page("<b>", "", None);
        assert!(p.contains("<title>&lt;b&gt; · pushbatch</title>"));
        assert_eq!(time(0), "1970-01-01 00:00 UTC");
    }
}
