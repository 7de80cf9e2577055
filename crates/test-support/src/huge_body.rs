//! A local HTTP/1.1 server whose every answer is `200 OK` with a huge body,
//! for tests of clients that must not read it all.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// How the body's size is told.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// A `Content-Length` header announces the whole size.
    ContentLength,
    /// Chunked transfer encoding: the size shows only as it comes.
    Chunked,
}

/// The server, on 127.0.0.1 port 0. Stops when dropped.
#[derive(Debug)]
pub struct HugeBodyServer {
    addr: SocketAddr,
    written: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

const CHUNK: usize = 64 * 1024;

impl HugeBodyServer {
    /// Answers every request with `len` bytes of JSON whitespace, framed as
    /// `framing`, until the client goes away.
    pub async fn start(len: u64, framing: Framing) -> HugeBodyServer {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let written = Arc::new(AtomicU64::new(0));
        let count = written.clone();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                tokio::spawn(answer(conn, len, framing, count.clone()));
            }
        });
        HugeBodyServer {
            addr,
            written,
            task,
        }
    }

    /// `http://127.0.0.1:PORT{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Body bytes written so far, over every connection.
    pub fn written(&self) -> u64 {
        self.written.load(Ordering::Relaxed)
    }
}

impl Drop for HugeBodyServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn answer(mut conn: TcpStream, len: u64, framing: Framing, written: Arc<AtomicU64>) {
    // The request head, up to its blank line (a body, if any, is ignored).
    let mut head = Vec::new();
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") && head.len() < 64 * 1024 {
        match conn.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => head.extend_from_slice(&buf[..n]),
        }
    }
    let framing_header = match framing {
        Framing::ContentLength => format!("Content-Length: {len}"),
        Framing::Chunked => "Transfer-Encoding: chunked".to_owned(),
    };
    let head =
        format!("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n{framing_header}\r\n\r\n");
    if conn.write_all(head.as_bytes()).await.is_err() {
        return;
    }
    let block = vec![b' '; CHUNK];
    let mut left = len;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        let sent = match framing {
            Framing::ContentLength => conn.write_all(&block[..n]).await,
            Framing::Chunked => {
                let mut framed = format!("{n:x}\r\n").into_bytes();
                framed.extend_from_slice(&block[..n]);
                framed.extend_from_slice(b"\r\n");
                conn.write_all(&framed).await
            }
        };
        if sent.is_err() {
            return;
        }
        written.fetch_add(n as u64, Ordering::Relaxed);
        left -= n as u64;
    }
    if framing == Framing::Chunked {
        let _ = conn.write_all(b"0\r\n\r\n").await;
    }
}
