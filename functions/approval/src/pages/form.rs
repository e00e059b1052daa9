//! `GET /requests/new` and its re-display with errors.

use crate::form::{FieldErrors, FormInput, MAX_BODY, MAX_TITLE};
use crate::html::{esc, page};
use crate::identity::Caller;

/// One labelled control with its hint and error, tied together with
/// aria-describedby so a screen reader reads them with the field.
fn field(name: &str, label: &str, hint: &str, control: &str, errors: &FieldErrors) -> String {
    let error =
        errors.get(name).map(|e| format!("<p class=\"error\" id=\"{name}-error\">{}</p>", esc(e))).unwrap_or_default();
    let hint = if hint.is_empty() { String::new() } else { format!("<p class=\"hint\" id=\"{name}-hint\">{hint}</p>") };
    format!("<div class=\"field\"><label for=\"{name}\">{label}</label>{hint}{error}{control}</div>")
}

fn describe(name: &str, has_hint: bool, errors: &FieldErrors) -> String {
    let mut ids = Vec::new();
    if has_hint {
        ids.push(format!("{name}-hint"));
    }
    if errors.contains_key(name) {
        ids.push(format!("{name}-error"));
    }
    let invalid = if errors.contains_key(name) { " aria-invalid=\"true\"" } else { "" };
    if ids.is_empty() { invalid.to_owned() } else { format!(" aria-describedby=\"{}\"{invalid}", ids.join(" ")) }
}

fn input(kind: &str, name: &str, value: &str, extra: &str, has_hint: bool, errors: &FieldErrors) -> String {
    format!(
        "<input type=\"{kind}\" id=\"{name}\" name=\"{name}\" value=\"{}\"{}{extra}>",
        esc(value),
        describe(name, has_hint, errors)
    )
}

fn textarea(name: &str, value: &str, extra: &str, has_hint: bool, errors: &FieldErrors) -> String {
    format!(
        "<textarea id=\"{name}\" name=\"{name}\"{}{extra}>{}</textarea>",
        describe(name, has_hint, errors),
        esc(value)
    )
}

/// The checkbox that declares inline devices, label after the box.
fn own_devices(checked: bool, errors: &FieldErrors) -> String {
    let error = errors
        .get("own_devices")
        .map(|e| format!("<p class=\"error\" id=\"own_devices-error\">{}</p>", esc(e)))
        .unwrap_or_default();
    format!(
        "<div class=\"field\"><p class=\"hint\" id=\"own_devices-hint\">Tick this only if the file's entries have a \
         <code>devices</code> list: those users are sent to the tokens in the file, without looking them up (and \
         without the opt-outs recorded there). Approvers are told.</p>{error}\
         <input type=\"checkbox\" id=\"own_devices\" name=\"own_devices\" value=\"yes\"{}{}> \
         <label for=\"own_devices\" style=\"display:inline\">This audience carries its own devices</label></div>",
        if checked { " checked" } else { "" },
        describe("own_devices", true, errors)
    )
}

/// The form, filled with `values`, with `errors` beside their fields.
pub fn render(base: &str, caller: &Caller, values: &FormInput, errors: &FieldErrors) -> String {
    let summary = if errors.is_empty() {
        String::new()
    } else {
        let items: String = errors.values().map(|e| format!("<li>{}</li>", esc(e))).collect();
        format!(
            "<div class=\"notice bad\" role=\"alert\" id=\"error-summary\"><p><strong>The request was not sent. \
             Fix {} below.</strong></p><ul>{items}</ul></div>",
            if errors.len() == 1 { "this problem" } else { "these problems" }
        )
    };
    let form_error =
        errors.get("form").map(|e| format!("<p class=\"error\" id=\"form-error\">{}</p>", esc(e))).unwrap_or_default();
    let audience_error = errors
        .get("audience")
        .map(|e| format!("<p class=\"error\" id=\"audience-error\">{}</p>", esc(e)))
        .unwrap_or_default();
    let body = format!(
        "<h1>Request a push notification</h1>\
         <p>You are signed in as <strong id=\"signed-in\">{caller}</strong>: the request is yours, and you cannot \
         approve it. Approvers are emailed; nothing is sent until one of them approves.</p>{summary}{form_error}\
         <form method=\"post\" action=\"{action}\" enctype=\"multipart/form-data\" novalidate>\
         {title}{body}{data}{category}\
         <fieldset aria-describedby=\"audience-hint{audience_described}\"><legend>Audience</legend>\
         <p class=\"hint\" id=\"audience-hint\">A batch file of users (.json, .jsonl or .ndjson): either the S3 key of a \
         BI query result under <code>requests/</code>, or a file uploaded here.</p>{audience_error}{key}{file}{own}</fieldset>\
         <button type=\"submit\">Send for approval</button></form>",
        action = esc(&format!("{base}/requests")),
        caller = esc(&caller.email),
        title = field(
            "title",
            "Title",
            "",
            &input("text", "title", &values.title, &format!(" maxlength=\"{MAX_TITLE}\""), false, errors),
            errors
        ),
        body = field(
            "body",
            "Body",
            "Shown under the title. <code>{{name}}</code> is replaced by the user's <code>name</code> var.",
            &textarea("body", &values.body, &format!(" maxlength=\"{MAX_BODY}\""), true, errors),
            errors
        ),
        data = field(
            "data",
            "Data (JSON object, optional)",
            "Sent to the app with the notification, e.g. <code>{\"deeplink\": \"app://home\"}</code>.",
            &textarea("data", &values.data, " spellcheck=\"false\"", true, errors),
            errors
        ),
        category = field(
            "category",
            "Category (optional)",
            "Users who muted this category are skipped.",
            &input("text", "category", &values.category, "", true, errors),
            errors
        ),
        audience_described = if errors.contains_key("audience") { " audience-error" } else { "" },
        key = field(
            "audience_key",
            "S3 key",
            "For example <code>requests/2025-06-01-lapsed/audience.jsonl</code>.",
            &input("text", "audience_key", &values.audience_key, " spellcheck=\"false\"", true, errors),
            errors
        ),
        file = field(
            "audience_file",
            "…or upload a file",
            "",
            &format!(
                "<input type=\"file\" id=\"audience_file\" name=\"audience_file\" accept=\".json,.jsonl,.ndjson\"{}>",
                describe("audience_file", false, errors)
            ),
            errors
        ),
        own = own_devices(values.own_devices, errors),
    );
    page("Request a push", &body, None)
}
