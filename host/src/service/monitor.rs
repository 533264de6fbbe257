//! The Monitor page (`/`): ADF Studio's Monitor view for Sluice's tenants, as static files
//! compiled into the binary so that `sluice serve` needs nothing beside it. The page holds no
//! data and no secret of its own: it is plain ES modules that call the public REST API with
//! the token the user gives it, so it can see exactly what that token may see and nothing
//! more. Its sources live in `host/monitor/`.

use axum::extract::Path;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

/// One embedded file: its name under `/monitor/`, its media type and its bytes.
struct Asset {
    name: &'static str,
    media_type: &'static str,
    bytes: &'static [u8],
}

macro_rules! asset {
    ($name:literal, $media_type:expr) => {
        Asset {
            name: $name,
            media_type: $media_type,
            bytes: include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/monitor/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the page (a request for another name is a 404).
const ASSETS: &[Asset] = &[
    asset!("index.html", "text/html; charset=utf-8"),
    asset!("style.css", "text/css; charset=utf-8"),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("runs.js", JS),
    asset!("run.js", JS),
    asset!("timeline.js", JS),
    asset!("start.js", JS),
    asset!("triggers.js", JS),
    asset!("favicon.svg", "image/svg+xml"),
];

/// Only this origin's files and API: no inline script, no third party, no framing. The token
/// therefore cannot be sent anywhere else even by injected markup.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'none'; \
     frame-ancestors 'none'; base-uri 'none'";

fn serve(asset: &Asset) -> Response {
    let mut response = (StatusCode::OK, asset.bytes).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(asset.media_type),
    );
    // Revalidated each time: a new binary must never run an old cached script.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

fn find(name: &str) -> Option<&'static Asset> {
    ASSETS.iter().find(|a| a.name == name)
}

/// `GET /`: the page.
pub async fn index() -> Response {
    match find("index.html") {
        Some(asset) => serve(asset),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `GET /monitor/{file}`: one of the page's files.
pub async fn asset(Path(file): Path<String>) -> Response {
    match find(&file) {
        Some(asset) => serve(asset),
        None => (StatusCode::NOT_FOUND, "no such file of the Monitor page").into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_module_the_page_imports_is_embedded() {
        // Each `import ... from "./x.js"` of an embedded script must name an embedded file,
        // or the page breaks only in a browser.
        for a in ASSETS.iter().filter(|a| a.name.ends_with(".js")) {
            let text = std::str::from_utf8(a.bytes).unwrap();
            for line in text
                .lines()
                .filter(|l| l.trim_start().starts_with("import "))
            {
                let target = line.split('"').nth(1).unwrap();
                let name = target.trim_start_matches("./");
                assert!(find(name).is_some(), "{} imports {target}", a.name);
            }
        }
        let html = std::str::from_utf8(find("index.html").unwrap().bytes).unwrap();
        for needle in ["/monitor/app.js", "/monitor/style.css"] {
            assert!(html.contains(needle), "index.html lacks {needle}");
        }
    }

    #[test]
    fn the_page_is_small() {
        let total: usize = ASSETS.iter().map(|a| a.bytes.len()).sum();
        assert!(total < 300 * 1024, "{total} bytes");
    }
}
