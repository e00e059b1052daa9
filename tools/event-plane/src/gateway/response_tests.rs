use serde_json::json;

use super::*;

fn answer(output: Value) -> Answer {
    from_function_output(output.to_string().as_bytes()).expect("a valid answer")
}

fn header<'a>(a: &'a Answer, name: &str) -> Vec<&'a str> {
    a.headers.get_all(name).iter().map(|v| v.to_str().unwrap()).collect()
}

#[test]
fn a_full_response_is_used_as_given() {
    let a = answer(json!({
        "statusCode": 201,
        "headers": {"content-type": "application/json", "x-count": 3, "x-flag": true},
        "cookies": ["a=1; Path=/", "b=2"],
        "body": "{\"created\":true}",
        "isBase64Encoded": false
    }));
    assert_eq!(a.status, StatusCode::CREATED);
    assert_eq!(header(&a, "content-type"), ["application/json"]);
    assert_eq!(header(&a, "x-count"), ["3"]);
    assert_eq!(header(&a, "x-flag"), ["true"]);
    assert_eq!(header(&a, "set-cookie"), ["a=1; Path=/", "b=2"]);
    assert_eq!(&a.body[..], b"{\"created\":true}");
}

#[test]
fn what_lambda_http_sends_comes_out_once() {
    // lambda_http's format 2.0 answer: comma-joined headers, an empty
    // multiValueHeaders, cookies separate.
    let a = answer(json!({"statusCode": 204, "headers": {"retry-after": "1"}, "multiValueHeaders": {},
                          "isBase64Encoded": false, "cookies": []}));
    assert_eq!(a.status, StatusCode::NO_CONTENT);
    assert_eq!(header(&a, "retry-after"), ["1"]);
    assert!(a.body.is_empty());
    assert!(a.headers.get("set-cookie").is_none());
}

#[test]
fn multi_value_headers_fill_in_what_headers_lack() {
    let a = answer(json!({"statusCode": 200, "headers": {"x-a": "one"},
                          "multiValueHeaders": {"x-a": ["ignored"], "x-b": ["1", "2"]}}));
    assert_eq!(header(&a, "x-a"), ["one"]);
    assert_eq!(header(&a, "x-b"), ["1", "2"]);
}

#[test]
fn base64_bodies_are_decoded() {
    let a = answer(json!({"statusCode": 200, "body": "AAEC/w==", "isBase64Encoded": true}));
    assert_eq!(&a.body[..], &[0, 1, 2, 255]);
    let bad = json!({"statusCode": 200, "body": "not base64!", "isBase64Encoded": true});
    assert!(matches!(from_function_output(bad.to_string().as_bytes()), Err(ResponseError::Base64(_))));
}

#[test]
fn json_without_status_code_is_a_200_of_that_json() {
    // The documentation's two examples.
    let a = answer(json!("Hello from Lambda!"));
    assert_eq!((a.status, &a.body[..]), (StatusCode::OK, &b"Hello from Lambda!"[..]));
    assert_eq!(header(&a, "content-type"), ["application/json"]);
    let text = br#"{ "message": "Hello from Lambda!" }"#;
    let a = from_function_output(text).unwrap();
    assert_eq!((a.status, &a.body[..]), (StatusCode::OK, &text[..]));
    // A body without a statusCode is not a response either.
    let a = answer(json!({"body": "x"}));
    assert_eq!(&a.body[..], br#"{"body":"x"}"#);
}

#[test]
fn malformed_answers_are_errors() {
    assert!(matches!(from_function_output(b"not json"), Err(ResponseError::NotJson(_))));
    for bad in [
        json!({"statusCode": "200"}),
        json!({"statusCode": 99}),
        json!({"statusCode": 600}),
        json!({"statusCode": 200, "headers": ["a"]}),
        json!({"statusCode": 200, "headers": {"bad name": "x"}}),
        json!({"statusCode": 200, "headers": {"x": "line\nbreak"}}),
        json!({"statusCode": 200, "headers": {"x": {"nested": 1}}}),
        json!({"statusCode": 200, "cookies": "a=1"}),
        json!({"statusCode": 200, "body": {"not": "a string"}}),
        json!({"statusCode": 200, "isBase64Encoded": "yes"}),
    ] {
        assert!(from_function_output(bad.to_string().as_bytes()).is_err(), "{bad}");
    }
}
