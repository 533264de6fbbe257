//! Whole-file compression of text formats (DelimitedText's `compressionCodec`, Json's
//! `compression`): gzip and raw deflate through `flate2`, plus byte counting on both sides so
//! `dataRead`/`dataWritten` report what is stored.
//!
//! Parquet compresses inside the file (its own `compressionCodec`), so it never comes here.

use std::io::{self, BufReader, BufWriter, Read, Write};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use flate2::read::{DeflateDecoder, MultiGzDecoder};
use flate2::write::{DeflateEncoder, GzEncoder};

pub use crate::model::files::formats::Compression;

/// Write buffer in front of the file: big enough that each system call moves a lot of rows.
const WRITE_BUF: usize = 1 << 20;
const READ_BUF: usize = 256 * 1024;

impl Compression {
    /// Decompresses `input`.
    pub fn reader(&self, input: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
        match self {
            Compression::None => input,
            Compression::Gzip(_) => Box::new(MultiGzDecoder::new(BufReader::with_capacity(
                READ_BUF, input,
            ))),
            Compression::Deflate(_) => Box::new(DeflateDecoder::new(BufReader::with_capacity(
                READ_BUF, input,
            ))),
        }
    }

    /// A compressing, buffered writer over `file`; [`Encoder::finish`] completes it.
    pub fn writer(&self, file: std::fs::File) -> Encoder {
        let counted = Counting {
            inner: file,
            count: Arc::new(AtomicU64::new(0)),
        };
        let count = counted.count.clone();
        let buffered = BufWriter::with_capacity(WRITE_BUF, counted);
        let stage = match self {
            Compression::None => Stage::Plain(buffered),
            Compression::Gzip(l) => Stage::Gzip(GzEncoder::new(buffered, *l)),
            Compression::Deflate(l) => Stage::Deflate(DeflateEncoder::new(buffered, *l)),
        };
        Encoder {
            stage: Arc::new(Mutex::new(Some(stage))),
            count,
        }
    }
}

enum Stage {
    Plain(BufWriter<Counting<std::fs::File>>),
    Gzip(GzEncoder<BufWriter<Counting<std::fs::File>>>),
    Deflate(DeflateEncoder<BufWriter<Counting<std::fs::File>>>),
}

/// The writing end handed to a format writer. Cheap handles share one underlying stage so the
/// sink can finish the compressed stream properly (and see its errors) after the format writer
/// is done with it.
pub struct Encoder {
    stage: Arc<Mutex<Option<Stage>>>,
    count: Arc<AtomicU64>,
}

impl Encoder {
    /// A writer for the format; all handles write into the same stream.
    pub fn handle(&self) -> Box<dyn Write + Send> {
        Box::new(Handle {
            stage: self.stage.clone(),
        })
    }

    /// Ends the compressed stream, flushes and syncs the file; returns the bytes stored.
    pub fn finish(self) -> io::Result<u64> {
        let stage = lock(&self.stage).take();
        let buffered = match stage {
            None => return Err(io::Error::other("the file was already finished")),
            Some(Stage::Plain(b)) => b,
            Some(Stage::Gzip(g)) => g.finish()?,
            Some(Stage::Deflate(d)) => d.finish()?,
        };
        let counted = buffered.into_inner().map_err(|e| e.into_error())?;
        counted.inner.sync_all()?;
        Ok(self.count.load(Ordering::Relaxed))
    }
}

fn lock(m: &Mutex<Option<Stage>>) -> MutexGuard<'_, Option<Stage>> {
    match m.lock() {
        Ok(g) => g,
        Err(p) => p.into_inner(),
    }
}

struct Handle {
    stage: Arc<Mutex<Option<Stage>>>,
}

impl Write for Handle {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match lock(&self.stage).as_mut() {
            Some(Stage::Plain(w)) => w.write(buf),
            Some(Stage::Gzip(w)) => w.write(buf),
            Some(Stage::Deflate(w)) => w.write(buf),
            None => Err(io::Error::other("the file was already finished")),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match lock(&self.stage).as_mut() {
            Some(Stage::Plain(w)) => w.write_all(buf),
            Some(Stage::Gzip(w)) => w.write_all(buf),
            Some(Stage::Deflate(w)) => w.write_all(buf),
            None => Err(io::Error::other("the file was already finished")),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match lock(&self.stage).as_mut() {
            Some(Stage::Plain(w)) => w.flush(),
            Some(Stage::Gzip(w)) => w.flush(),
            Some(Stage::Deflate(w)) => w.flush(),
            None => Ok(()),
        }
    }
}

/// Counts the bytes that pass through.
pub struct Counting<T> {
    pub inner: T,
    pub count: Arc<AtomicU64>,
}

impl<T> Counting<T> {
    pub fn new(inner: T) -> Self {
        Counting {
            inner,
            count: Arc::new(AtomicU64::new(0)),
        }
    }
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use crate::model::props::Props;
    use serde_json::json;

    #[test]
    fn gzip_round_trip_and_counts() {
        for c in [
            Compression::None,
            Compression::Gzip(flate2::Compression::best()),
            Compression::Deflate(flate2::Compression::fast()),
        ] {
            let tmp = tempfile::NamedTempFile::new().unwrap();
            let enc = c.writer(tmp.reopen().unwrap());
            let mut h = enc.handle();
            for _ in 0..1000 {
                h.write_all(b"hello, world\n").unwrap();
            }
            drop(h);
            let stored = enc.finish().unwrap();
            assert_eq!(stored, std::fs::metadata(tmp.path()).unwrap().len());
            let mut text = String::new();
            c.reader(Box::new(tmp.reopen().unwrap()))
                .read_to_string(&mut text)
                .unwrap();
            assert_eq!(text.len(), 13_000);
        }
    }

    #[test]
    fn corrupt_gzip_is_an_error() {
        let mut out = String::new();
        let e = Compression::Gzip(flate2::Compression::default())
            .reader(Box::new(&b"not gzip at all"[..]))
            .read_to_string(&mut out)
            .unwrap_err();
        assert!(e.to_string().contains("header"), "{e}");
    }

    #[test]
    fn settings() {
        let v = json!({"compressionCodec": "GZip", "compressionLevel": "Fastest"});
        let p = Props::of("ds", &v).unwrap();
        assert_eq!(
            Compression::from_codec(&p).unwrap(),
            Compression::Gzip(flate2::Compression::fast())
        );
        let v = json!({"compression": {"type": "gzip"}});
        let p = Props::of("ds", &v).unwrap();
        assert!(matches!(
            Compression::from_object(&p).unwrap(),
            Compression::Gzip(_)
        ));
        let v = json!({"compressionCodec": "bzip2"});
        let p = Props::of("ds", &v).unwrap();
        let e = Compression::from_codec(&p).unwrap_err().to_string();
        assert!(e.contains("compressionCodec") && e.contains("bzip2"), "{e}");
    }
}
