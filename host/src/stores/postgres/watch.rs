//! Which step of opening a connection is under way, so that running out of the connection
//! timeout can say what got no answer ("the server accepted the TCP connection but did not
//! answer the SSL request") instead of a bare "timed out".
//!
//! The driver performs the SSL request, the TLS handshake and startup inside one call. Two
//! thin wrappers watch it from outside: [`Watched`] around the socket notes that the server
//! sent something, [`Tracked`] around the TLS connector notes when the handshake starts and
//! ends. [`Progress`] holds what they saw.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU8, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_postgres::tls::TlsConnect;

/// A step of opening a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    Resolve = 0,
    Tcp = 1,
    /// TLS was asked for (the SSL request); the server's one-byte answer is awaited.
    SslRequest = 2,
    TlsHandshake = 3,
    /// The startup message, authentication, and the server's parameters.
    Startup = 4,
}

impl Phase {
    fn from_u8(v: u8) -> Phase {
        match v {
            0 => Phase::Resolve,
            1 => Phase::Tcp,
            2 => Phase::SslRequest,
            3 => Phase::TlsHandshake,
            _ => Phase::Startup,
        }
    }
}

/// The step under way and whether the server has sent anything since it began.
#[derive(Debug, Default)]
pub struct Progress {
    phase: AtomicU8,
    answered: AtomicBool,
}

impl Progress {
    pub fn enter(&self, phase: Phase) {
        self.phase.store(phase as u8, Ordering::Relaxed);
        self.answered.store(false, Ordering::Relaxed);
    }

    fn heard(&self) {
        self.answered.store(true, Ordering::Relaxed);
    }

    /// What got no answer, in words.
    pub fn describe(&self) -> &'static str {
        let answered = self.answered.load(Ordering::Relaxed);
        match (Phase::from_u8(self.phase.load(Ordering::Relaxed)), answered) {
            (Phase::Resolve, _) => "the host name did not resolve",
            (Phase::Tcp, _) => "no TCP connection could be opened",
            (Phase::SslRequest, false) => {
                "the server accepted the TCP connection but did not answer the SSL request"
            }
            (Phase::SslRequest, true) => {
                "the server declined TLS, then did not complete startup and authentication"
            }
            (Phase::TlsHandshake, _) => "no answer to the TLS handshake",
            (Phase::Startup, false) => "the server did not answer the startup message",
            (Phase::Startup, true) => "startup and authentication did not complete",
        }
    }
}

/// The socket, noting in [`Progress`] when the server sends something.
pub struct Watched {
    inner: TcpStream,
    progress: Arc<Progress>,
}

impl Watched {
    pub fn new(inner: TcpStream, progress: Arc<Progress>) -> Self {
        Watched { inner, progress }
    }
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.progress.heard();
        }
        polled
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A TLS connector noting in [`Progress`] when the handshake starts and when it is done.
pub struct Tracked<T> {
    inner: T,
    progress: Arc<Progress>,
}

impl<T> Tracked<T> {
    pub fn new(inner: T, progress: Arc<Progress>) -> Self {
        Tracked { inner, progress }
    }
}

type Handshake<T, E> = Pin<Box<dyn Future<Output = Result<T, E>> + Send>>;

impl<S, T> TlsConnect<S> for Tracked<T>
where
    T: TlsConnect<S>,
    T::Future: Send + 'static,
{
    type Stream = T::Stream;
    type Error = T::Error;
    type Future = Handshake<T::Stream, T::Error>;

    fn connect(self, stream: S) -> Self::Future {
        self.progress.enter(Phase::TlsHandshake);
        let handshake = self.inner.connect(stream);
        let progress = self.progress;
        Box::pin(async move {
            let done = handshake.await;
            if done.is_ok() {
                progress.enter(Phase::Startup);
            }
            done
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_step_is_described() {
        let p = Progress::default();
        assert_eq!(p.describe(), "the host name did not resolve");
        p.enter(Phase::SslRequest);
        assert!(p.describe().contains("did not answer the SSL request"));
        p.heard();
        assert!(p.describe().contains("declined TLS"));
        p.enter(Phase::TlsHandshake);
        assert_eq!(p.describe(), "no answer to the TLS handshake");
        p.enter(Phase::Startup);
        assert_eq!(
            p.describe(),
            "the server did not answer the startup message"
        );
        p.heard();
        assert_eq!(p.describe(), "startup and authentication did not complete");
    }
}
