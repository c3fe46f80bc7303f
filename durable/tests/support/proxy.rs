//! A fault-injecting proxy in front of a real `redis-server`, on its own loopback port: it passes every command
//! through, frame by frame (RESP), until told to answer every command itself with an error Redis gives when it
//! cannot serve — `LOADING` while a restarted server reads its AOF — without passing it on. Closed on drop.

use std::io::{self, BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// The proxy; its threads end when it is dropped and their connections close.
pub struct FaultProxy {
    pub port: u16,
    loading: Arc<AtomicBool>,
    refused: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
}

impl FaultProxy {
    /// Starts a proxy to `127.0.0.1:upstream`.
    pub fn start(upstream: u16) -> FaultProxy {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let port = listener.local_addr().expect("its address").port();
        listener.set_nonblocking(true).expect("a non-blocking listener");
        let (loading, refused, stop) =
            (Arc::new(AtomicBool::new(false)), Arc::new(AtomicU64::new(0)), Arc::new(AtomicBool::new(false)));
        let (l, r, s) = (loading.clone(), refused.clone(), stop.clone());
        std::thread::spawn(move || {
            while !s.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((client, _)) => {
                        let (l, r, s) = (l.clone(), r.clone(), s.clone());
                        std::thread::spawn(move || {
                            let _ = serve(client, upstream, &l, &r, &s);
                        });
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(5)),
                }
            }
        });
        FaultProxy { port, loading, refused, stop }
    }

    /// `redis://127.0.0.1:PORT/` of the proxy.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// From now on every command is answered `-LOADING …` (`true`), or passed on again (`false`).
    pub fn set_loading(&self, loading: bool) {
        self.loading.store(loading, Ordering::SeqCst);
    }

    /// How many commands were answered `LOADING` so far.
    pub fn refused(&self) -> u64 {
        self.refused.load(Ordering::SeqCst)
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
    }
}

fn serve(
    client: TcpStream,
    upstream: u16,
    loading: &AtomicBool,
    refused: &AtomicU64,
    stop: &AtomicBool,
) -> io::Result<()> {
    let server = TcpStream::connect(("127.0.0.1", upstream))?;
    let (mut to_client, mut to_server) = (client.try_clone()?, server.try_clone()?);
    let (mut from_client, mut from_server) = (BufReader::new(client), BufReader::new(server));
    let mut frame = Vec::new();
    while !stop.load(Ordering::SeqCst) {
        frame.clear();
        read_frame(&mut from_client, &mut frame)?;
        if loading.load(Ordering::SeqCst) {
            refused.fetch_add(1, Ordering::SeqCst);
            to_client.write_all(b"-LOADING Redis is loading the dataset in memory\r\n")?;
            continue;
        }
        to_server.write_all(&frame)?;
        frame.clear();
        read_frame(&mut from_server, &mut frame)?;
        to_client.write_all(&frame)?;
    }
    Ok(())
}

/// Appends one whole RESP frame (RESP2, and RESP3's aggregate and simple types) to `out`.
fn read_frame(reader: &mut impl BufRead, out: &mut Vec<u8>) -> io::Result<()> {
    let start = out.len();
    if reader.read_until(b'\n', out)? == 0 {
        return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "closed"));
    }
    let line = &out[start..];
    let kind = line[0];
    let number = || -> io::Result<i64> {
        std::str::from_utf8(&line[1..line.len().saturating_sub(2)])
            .ok()
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "a bad length"))
    };
    match kind {
        b'$' | b'=' | b'!' => {
            let len = number()?;
            if len >= 0 {
                let mut body = vec![0; len as usize + 2];
                reader.read_exact(&mut body)?;
                out.extend_from_slice(&body);
            }
        }
        b'*' | b'~' | b'>' => {
            for _ in 0..number()?.max(0) {
                read_frame(reader, out)?;
            }
        }
        b'%' => {
            for _ in 0..2 * number()?.max(0) {
                read_frame(reader, out)?;
            }
        }
        _ => {} // + - : _ , # ( : one line
    }
    Ok(())
}
