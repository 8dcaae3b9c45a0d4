//! One HTTP/1.0 GET to the server (its `/metrics`, its room API), read to
//! the end within a time limit: the status line and the body.

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// GET `http://{host}{path}` with `extra_headers` (each ending in `\r\n`),
/// reading at most `max_body` bytes, within `limit`.
pub async fn get(
    host: &str,
    path: &str,
    extra_headers: &str,
    max_body: u64,
    limit: Duration,
) -> Result<(String, String), String> {
    let fetch = async {
        let mut s = TcpStream::connect(host)
            .await
            .map_err(|e| format!("cannot connect to {host}: {e}"))?;
        let req = format!(
            "GET {path} HTTP/1.0\r\nHost: {host}\r\n{extra_headers}Connection: close\r\n\r\n"
        );
        s.write_all(req.as_bytes())
            .await
            .map_err(|e| e.to_string())?;
        let mut raw = Vec::new();
        s.take(max_body)
            .read_to_end(&mut raw)
            .await
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(String::from_utf8_lossy(&raw).into_owned())
    };
    let text = tokio::time::timeout(limit, fetch)
        .await
        .map_err(|_| format!("{host}{path} did not answer in {limit:?}"))??;
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or("").to_string();
    Ok((status, body.to_string()))
}
