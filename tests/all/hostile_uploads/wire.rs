//! Multipart bodies as raw bytes, sent on a connection of their own (the body whole,
//! stalled or half-closed) with the answer read back; and a component that takes a while
//! to compile.

use super::cases::{Case, Delivery};
use std::net::SocketAddr;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};

/// One part of a multipart body: its header lines, raw, and its contents.
#[derive(Clone)]
pub(super) struct Part {
    pub(super) head: Vec<u8>,
    pub(super) body: Vec<u8>,
}

impl Part {
    /// A file part: `name="file"; filename="<path>"`.
    pub(super) fn file(path: &[u8], body: impl Into<Vec<u8>>) -> Part {
        let mut head = b"Content-Disposition: form-data; name=\"file\"; filename=\"".to_vec();
        head.extend_from_slice(path);
        head.extend_from_slice(b"\"\r\nContent-Type: application/octet-stream");
        Part {
            head,
            body: body.into(),
        }
    }

    /// A field part, no file name: the server takes its name as the path.
    pub(super) fn field(name: &[u8], body: impl Into<Vec<u8>>) -> Part {
        let mut head = b"Content-Disposition: form-data; name=\"".to_vec();
        head.extend_from_slice(name);
        head.push(b'"');
        Part {
            head,
            body: body.into(),
        }
    }

    pub(super) fn raw(head: &[u8], body: impl Into<Vec<u8>>) -> Part {
        Part {
            head: head.to_vec(),
            body: body.into(),
        }
    }
}

/// `parts` framed by `boundary`, closed by the final boundary.
pub(super) fn multipart(boundary: &[u8], parts: &[Part]) -> Vec<u8> {
    let mut out = Vec::new();
    for part in parts {
        out.extend_from_slice(b"--");
        out.extend_from_slice(boundary);
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&part.head);
        out.extend_from_slice(b"\r\n\r\n");
        out.extend_from_slice(&part.body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"--");
    out.extend_from_slice(boundary);
    out.extend_from_slice(b"--\r\n");
    out
}

/// The boundary quoted: RFC 2046 lets a boundary hold characters (`(),/:=?`) a bare
/// header parameter may not.
pub(super) fn content_type(boundary: &[u8]) -> Vec<u8> {
    [
        b"multipart/form-data; boundary=\"".as_slice(),
        boundary,
        b"\"",
    ]
    .concat()
}

/// An answer: status, `Content-Type`, body (de-chunked). `None` when the server closed the
/// connection without answering.
pub(super) struct Answer {
    pub(super) status: u16,
    pub(super) content_type: String,
    pub(super) body: Vec<u8>,
}

/// Sends `case` as written on a connection of its own and reads the answer.
pub(super) async fn send(addr: SocketAddr, case: &Case) -> Option<Answer> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let mut head =
        b"POST /api/deployments HTTP/1.1\r\nhost: localhost\r\nconnection: close\r\n".to_vec();
    if !case.content_type.is_empty() {
        head.extend_from_slice(b"content-type: ");
        head.extend_from_slice(&case.content_type);
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(format!("content-length: {}\r\n\r\n", case.body.len()).as_bytes());
    let (sent, half_close) = match case.delivery {
        Delivery::Whole => (case.body.len(), false),
        Delivery::Stalled(n) => (n, false),
        Delivery::HalfClosed(n) => (n, true),
    };
    let request = [head, case.body[..sent].to_vec()].concat();
    let (mut read, mut write) = tcp.into_split();
    // Written beside the read: a server that answers before the whole body is sent is read
    // at once (a refusal may come early). The write half is handed back, so a stalled
    // request's connection stays open until the answer is read.
    let writer = tokio::spawn(async move {
        let _ = write.write_all(&request).await;
        if half_close {
            let _ = write.shutdown().await;
        }
        write
    });
    let mut response = Vec::new();
    // A reset after the answer is fine: what arrived is kept.
    let _ = read.read_to_end(&mut response).await;
    drop(writer.await);
    parse(&response)
}

pub(super) fn parse(response: &[u8]) -> Option<Answer> {
    let end = response.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&response[..end]).to_ascii_lowercase();
    let status = head.split(' ').nth(1)?.parse().ok()?;
    let header = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))
            .map(|v| v.trim().to_string())
    };
    let mut body = response[end + 4..].to_vec();
    if header("transfer-encoding").is_some_and(|v| v == "chunked") {
        body = dechunk(&body);
    }
    Some(Answer {
        status,
        content_type: header("content-type").unwrap_or_default(),
        body,
    })
}

fn dechunk(mut body: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line) = body.windows(2).position(|w| w == b"\r\n") {
        let size = std::str::from_utf8(&body[..line])
            .ok()
            .and_then(|s| usize::from_str_radix(s.trim(), 16).ok());
        let Some(size) = size.filter(|s| *s > 0) else {
            break;
        };
        let start = line + 2;
        out.extend_from_slice(&body[start..(start + size).min(body.len())]);
        body = body.get(start + size + 2..).unwrap_or_default();
    }
    out
}

/// `n` as unsigned LEB128 (the WebAssembly binary's integers).
fn leb(mut n: usize, out: &mut Vec<u8>) {
    loop {
        let byte = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out.push(byte);
            return;
        }
        out.push(byte | 0x80);
    }
}

fn section(id: u8, contents: &[u8], out: &mut Vec<u8>) {
    out.push(id);
    leb(contents.len(), out);
    out.extend_from_slice(contents);
}

/// A component that takes a while to compile: one core module of `functions` functions of
/// `ops` arithmetic steps each, and nothing the predictor world needs (its start fails
/// after the compile, a 422).
pub(super) fn slow_component(functions: usize, ops: usize) -> Vec<u8> {
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    // One type: (i32) -> i32.
    section(1, &[1, 0x60, 1, 0x7f, 1, 0x7f], &mut module);
    let mut declared = Vec::new();
    leb(functions, &mut declared);
    declared.extend(std::iter::repeat_n(0u8, functions));
    section(3, &declared, &mut module);
    let mut body = vec![0u8, 0x20, 0]; // no locals; local.get 0
    for k in 0..ops {
        // local.get 0, i32.add, i32.const k, i32.xor
        body.extend_from_slice(&[0x20, 0, 0x6a, 0x41]);
        leb(k % 64, &mut body);
        body.push(0x73);
    }
    body.push(0x0b);
    let mut code = Vec::new();
    leb(functions, &mut code);
    for _ in 0..functions {
        leb(body.len(), &mut code);
        code.extend_from_slice(&body);
    }
    section(10, &code, &mut module);
    let mut component = b"\0asm\x0d\0\x01\0".to_vec();
    section(1, &module, &mut component);
    component
}
