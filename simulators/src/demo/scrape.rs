//! Reading a node's Prometheus `/metrics` (text format 0.0.4): one GET over
//! HTTP/1.1 (hyper's client connection), bounded in time and size, and the
//! samples summed by name and label; and its status document (`/api/status`,
//! the console's), which the demo checks once a node is up. How the cluster demo counts each node's
//! answers and sees a take-over, a store outage and a drain from outside the
//! node's process.

use std::net::SocketAddr;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper::Request;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

/// How long one scrape may take.
const SCRAPE_DEADLINE: Duration = Duration::from_secs(2);
/// Largest page read (a node's page is some tens of kilobytes).
const MAX_PAGE: usize = 4 * 1024 * 1024;

/// One scrape: every sample as (name, labels as written, value).
#[derive(Clone, Debug, Default)]
pub struct Metrics {
    samples: Vec<(String, String, f64)>,
}

impl Metrics {
    /// Parse the text format (comments and malformed lines skipped).
    pub fn parse(text: &str) -> Metrics {
        let samples = text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|line| {
                let (series, value) = line.trim().rsplit_once(' ')?;
                let value: f64 = value.parse().ok()?;
                let (name, labels) = match series.split_once('{') {
                    Some((n, rest)) => (n, rest.trim_end_matches('}')),
                    None => (series, ""),
                };
                Some((name.to_owned(), labels.to_owned(), value))
            })
            .collect();
        Metrics { samples }
    }

    /// The sum of every sample of `name`.
    pub fn sum(&self, name: &str) -> f64 {
        self.sum_where(name, "")
    }

    /// The sum of the samples of `name` whose labels contain `label` (as
    /// written: `kind="saf"`; empty: all).
    pub fn sum_where(&self, name: &str, label: &str) -> f64 {
        self.samples
            .iter()
            .filter(|(n, labels, _)| n == name && labels.contains(label))
            .map(|(_, _, v)| v)
            .sum()
    }

    /// Whether the page has a sample of `name`.
    pub fn has(&self, name: &str) -> bool {
        self.samples.iter().any(|(n, _, _)| n == name)
    }
}

/// GET `http://addr/metrics`.
pub async fn scrape(addr: SocketAddr) -> Result<Metrics, String> {
    let page = get(addr, "/metrics")
        .await
        .map_err(|e| format!("metrics at {addr}: {e}"))?;
    Ok(Metrics::parse(&page))
}

/// GET `http://addr/api/status`: the node's status document (the console's).
pub async fn status(addr: SocketAddr) -> Result<serde_json::Value, String> {
    let page = get(addr, "/api/status")
        .await
        .map_err(|e| format!("status at {addr}: {e}"))?;
    serde_json::from_str(&page).map_err(|e| format!("status at {addr}: not JSON: {e}"))
}

/// GET `http://addr{path}`: the body of a success, bounded in time and size.
async fn get(addr: SocketAddr, path: &str) -> Result<String, String> {
    let get = async {
        let tcp = TcpStream::connect(addr).await.map_err(|e| e.to_string())?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| e.to_string())?;
        // Ends when the sender is dropped (after this one request).
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let request = Request::get(path)
            .header(hyper::header::HOST, addr.to_string())
            .body(Empty::<Bytes>::new())
            .map_err(|e| e.to_string())?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("HTTP {}", response.status()));
        }
        let page = Limited::new(response.into_body(), MAX_PAGE)
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        Ok(String::from_utf8_lossy(&page).into_owned())
    };
    tokio::time::timeout(SCRAPE_DEADLINE, get)
        .await
        .map_err(|_| format!("no answer within {SCRAPE_DEADLINE:?}"))?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_summed_by_name_and_label() {
        let page = "# HELP switch_responses_total answers\n\
                    # TYPE switch_responses_total counter\n\
                    switch_responses_total{rc=\"00\"} 10\n\
                    switch_responses_total{rc=\"96\"} 4\n\
                    switch_cluster_adopted_total{kind=\"saf\"} 2\n\
                    switch_cluster_adopted_total{kind=\"reversal\"} 3\n\
                    switch_store_available 1\n\
                    garbage line\n";
        let m = Metrics::parse(page);
        assert_eq!(m.sum("switch_responses_total"), 14.0);
        assert_eq!(m.sum_where("switch_responses_total", "rc=\"96\""), 4.0);
        assert_eq!(
            m.sum_where("switch_cluster_adopted_total", "kind=\"reversal\""),
            3.0
        );
        assert_eq!(m.sum("switch_store_available"), 1.0);
        assert!(m.has("switch_store_available"));
        assert!(!m.has("switch_cluster_takeovers_total"));
        assert_eq!(m.sum("switch_cluster_takeovers_total"), 0.0);
    }
}
