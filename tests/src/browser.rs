//! A real browser for the console's test: Debian's headless Chromium, kept
//! running on one page and asked through the DevTools protocol (CDP) over its
//! websocket, written here in the few lines the test needs (a text frame out,
//! text frames in: no extensions, no fragmentation of what we send), so the
//! page keeps polling between two questions as it would on an operator's
//! screen. Also a one-shot screenshot (`--screenshot`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout, Instant};

/// How long one question to the browser may take.
const ASK_WITHIN: Duration = Duration::from_secs(10);

/// The flags every headless run takes: no sandbox (root), and none of the
/// background connections a machine without internet would refuse.
const FLAGS: [&str; 9] = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
];

/// The Chromium binary, if installed.
pub fn chromium() -> Option<PathBuf> {
    ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
}

/// Whether a missing Chromium fails the test (`CHROMIUM_REQUIRED=1`, CI).
pub fn required() -> bool {
    std::env::var("CHROMIUM_REQUIRED").as_deref() == Ok("1")
}

/// A fresh, empty profile folder.
fn profile() -> PathBuf {
    use std::sync::atomic::{AtomicU32, Ordering};
    static N: AtomicU32 = AtomicU32::new(0);
    let dir = std::env::temp_dir().join(format!(
        "test-chromium-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A screenshot of `url` (`width` x `height`) into `png`, the page given
/// `budget_ms` of virtual time to draw.
pub fn screenshot(chrome: &Path, url: &str, png: &Path, size: (u32, u32), budget_ms: u32) {
    let profile = profile();
    let status = Command::new(chrome)
        .args(FLAGS)
        .arg(format!("--user-data-dir={}", profile.display()))
        .arg(format!("--window-size={},{}", size.0, size.1))
        .arg(format!("--virtual-time-budget={budget_ms}"))
        .arg(format!("--screenshot={}", png.display()))
        .arg(url)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("chromium runs");
    let _ = std::fs::remove_dir_all(&profile);
    assert!(status.success(), "chromium --screenshot: {status}");
}

/// A running headless Chromium showing one page.
pub struct Browser {
    child: Child,
    profile: PathBuf,
    socket: TcpStream,
    /// Bytes read past the last frame.
    buffer: Vec<u8>,
    next_id: u64,
}

impl Browser {
    /// Start Chromium on `url` and connect to the page's DevTools websocket.
    pub async fn open(chrome: &Path, url: &str) -> Browser {
        let profile = profile();
        let child = Command::new(chrome)
            .args(FLAGS)
            .arg(format!("--user-data-dir={}", profile.display()))
            .arg("--remote-debugging-port=0")
            .arg(url)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromium starts");
        // Chromium writes the port it took into the profile.
        let port_file = profile.join("DevToolsActivePort");
        let started = Instant::now();
        let port: u16 = loop {
            if let Some(port) = std::fs::read_to_string(&port_file)
                .ok()
                .and_then(|t| t.lines().next().and_then(|l| l.trim().parse().ok()))
            {
                break port;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no DevTools port from chromium"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let path = loop {
            let list = http_get(port, "/json/list").await;
            if let Some(p) = page_socket_path(&list) {
                break p;
            }
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "no page target: {list}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        let mut socket = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let upgrade = format!(
            "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        );
        socket.write_all(upgrade.as_bytes()).await.unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            let n = timeout(ASK_WITHIN, socket.read(&mut byte))
                .await
                .unwrap()
                .unwrap();
            assert_eq!(n, 1, "websocket upgrade: connection closed");
            head.push(byte[0]);
            assert!(head.len() < 4096, "websocket upgrade: head too long");
        }
        assert!(
            head.starts_with(b"HTTP/1.1 101"),
            "{}",
            String::from_utf8_lossy(&head)
        );
        Browser {
            child,
            profile,
            socket,
            buffer: Vec::new(),
            next_id: 1,
        }
    }

    /// Evaluate `expression` in the page; the protocol's raw JSON reply (the
    /// value is at `result.result.value`).
    pub async fn evaluate(&mut self, expression: &str) -> String {
        let id = self.next_id;
        self.next_id += 1;
        let escaped = expression.replace('\\', "\\\\").replace('"', "\\\"");
        let message = format!(
            "{{\"id\":{id},\"method\":\"Runtime.evaluate\",\"params\":{{\"expression\":\"{escaped}\",\"returnByValue\":true}}}}"
        );
        self.send(message.as_bytes()).await;
        let marker = format!("\"id\":{id},");
        loop {
            let reply = timeout(ASK_WITHIN, self.receive())
                .await
                .expect("chromium answered");
            if reply.contains(&marker) {
                return reply;
            }
        }
    }

    /// One masked text frame (a client's frames are masked; the key need not
    /// be secret here).
    async fn send(&mut self, payload: &[u8]) {
        let mask = [0x37u8, 0xfa, 0x21, 0x3d];
        let mut frame = vec![0x81u8];
        match payload.len() {
            n if n < 126 => frame.push(0x80 | n as u8),
            n if n <= 0xffff => {
                frame.push(0x80 | 126);
                frame.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                frame.push(0x80 | 127);
                frame.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.socket.write_all(&frame).await.unwrap();
    }

    /// `n` bytes from the socket (after what is buffered).
    async fn take(&mut self, n: usize) -> Vec<u8> {
        while self.buffer.len() < n {
            let mut chunk = [0u8; 16384];
            let got = self.socket.read(&mut chunk).await.unwrap();
            assert!(got > 0, "chromium closed the DevTools connection");
            self.buffer.extend_from_slice(&chunk[..got]);
        }
        self.buffer.drain(..n).collect()
    }

    /// The next whole text message (continuation frames joined; a ping is
    /// left unanswered: Chromium does not require a pong of a client).
    async fn receive(&mut self) -> String {
        let mut message = Vec::new();
        loop {
            let head = self.take(2).await;
            let (fin, opcode) = (head[0] & 0x80 != 0, head[0] & 0x0f);
            let masked = head[1] & 0x80 != 0;
            let len = match head[1] & 0x7f {
                126 => u16::from_be_bytes(self.take(2).await.try_into().unwrap()) as usize,
                127 => u64::from_be_bytes(self.take(8).await.try_into().unwrap()) as usize,
                n => n as usize,
            };
            assert!(len < 64 << 20, "a DevTools frame of {len} bytes");
            let mask = if masked {
                self.take(4).await
            } else {
                vec![0; 4]
            };
            let payload: Vec<u8> = self
                .take(len)
                .await
                .iter()
                .enumerate()
                .map(|(i, b)| b ^ mask[i % 4])
                .collect();
            assert_ne!(opcode, 8, "chromium closed the DevTools connection");
            if opcode == 0 || opcode == 1 {
                message.extend_from_slice(&payload);
                if fin {
                    return String::from_utf8_lossy(&message).into_owned();
                }
            }
        }
    }

    /// Stop the browser (the process this test started) and remove its profile.
    pub fn close(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

/// One GET to the DevTools HTTP endpoint; the body.
async fn http_get(port: u16, path: &str) -> String {
    let mut tcp = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let request =
        format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.unwrap();
    // Its server may keep the connection open: read the head, then as many
    // bytes as it says the body has.
    let read = async {
        let mut response = Vec::new();
        let mut chunk = [0u8; 8192];
        loop {
            let n = tcp.read(&mut chunk).await.unwrap();
            response.extend_from_slice(&chunk[..n]);
            let text = String::from_utf8_lossy(&response).into_owned();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length = head
                    .lines()
                    .find_map(|l| {
                        let (k, v) = l.split_once(':')?;
                        if k.eq_ignore_ascii_case("content-length") {
                            v.trim().parse::<usize>().ok()
                        } else {
                            None
                        }
                    })
                    .unwrap_or(usize::MAX);
                if body.len() >= length || n == 0 {
                    return body.to_string();
                }
            }
            assert!(n > 0, "DevTools closed before its answer");
        }
    };
    timeout(ASK_WITHIN, read).await.expect("DevTools answered")
}

/// The path of the first page's DevTools websocket in a `/json/list` answer.
fn page_socket_path(list: &str) -> Option<String> {
    list.split("\"webSocketDebuggerUrl\"")
        .skip(1)
        .find_map(|rest| {
            let url = rest.split('"').nth(1)?;
            let path = &url[url.find("/devtools/page/")?..];
            Some(path.to_string())
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_socket_is_found_in_the_target_list() {
        let list = r#"[ {
   "description": "",
   "id": "A1",
   "type": "page",
   "url": "http://127.0.0.1:9/",
   "webSocketDebuggerUrl": "ws://127.0.0.1:41234/devtools/page/A1"
} ]"#;
        assert_eq!(page_socket_path(list).as_deref(), Some("/devtools/page/A1"));
        assert_eq!(page_socket_path("[]"), None);
    }
}
