//! Sending one write batch's COPY while its rows are still arriving.
//!
//! A write batch (`writeBatchSize` rows) is one COPY and one commit. When a batch was gathered
//! whole before it was sent, the target server sat idle while the source read and the client
//! sat idle while the server wrote. Measured on 1,000,000 rows, the copy got slower as the
//! batches grew: 1.85 s at 10,000 rows, 2.15 s at 200,000 and 2.3 s at 1,000,000.
//!
//! A [`StreamingCopy`] opens the COPY when the batch's first chunk is encoded and sends each
//! chunk as soon as it is ready, so reading, encoding and writing overlap. It keeps the
//! chunks until the batch commits, because a batch the server refuses because of some of its
//! rows is written again in parts (see `super::bisect`). Only the time spent waiting on the
//! server counts against `writeBatchTimeout`, just as when a batch was sent whole.
//!
//! The COPY runs inside `BEGIN` … `COMMIT`. tokio-postgres sends an autocommit COPY's `Sync`
//! with its `CopyDone` and reports success at `CommandComplete`, before the server commits at
//! that `Sync`: a session ended in between, or a deferred constraint failing at commit, lost a
//! batch the copy had counted as written. An explicit `COMMIT` answers only once it is durable.

use std::future::Future;
use std::pin::Pin;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use futures_util::SinkExt;
use tokio_postgres::{Client, CopyInSink};

use super::copy_binary::{write_header, write_trailer};

/// Why writing a batch (or part of one) did not succeed.
pub(super) enum Failure {
    /// The client-side `writeBatchTimeout` timer fired.
    TimedOut,
    Db(tokio_postgres::Error),
}

/// Runs one step of a write within what is left of `limit`, adding its time to `busy`.
pub(super) async fn timed_step<T>(
    busy: &mut Duration,
    limit: Duration,
    step: impl Future<Output = Result<T, tokio_postgres::Error>>,
) -> Result<T, Failure> {
    let started = Instant::now();
    let result = tokio::time::timeout(limit.saturating_sub(*busy), step).await;
    *busy += started.elapsed();
    match result {
        Err(_) => Err(Failure::TimedOut),
        Ok(Err(e)) => Err(Failure::Db(e)),
        Ok(Ok(v)) => Ok(v),
    }
}

/// An open COPY of one write batch and the rows sent so far.
pub(super) struct StreamingCopy {
    sink: Option<Pin<Box<CopyInSink<Bytes>>>>,
    /// The batch's COPY rows sent so far (no header or trailer), for writing it again in parts.
    sent: Vec<Bytes>,
    /// The length of `sent`'s rows together.
    kept: usize,
    /// Bytes on the wire, header and trailer included.
    bytes: u64,
    binary: bool,
    busy: Duration,
    limit: Duration,
    /// The first failure; later chunks are kept but no longer sent.
    failed: Option<Failure>,
}

impl StreamingCopy {
    /// Starts a transaction and `sql` (a `COPY ... FROM STDIN`) in it. A failure to start is
    /// reported by [`StreamingCopy::finish`], after the batch's rows have all been kept.
    pub(super) async fn open(client: &Client, sql: &str, binary: bool, limit: Duration) -> Self {
        let mut copy = StreamingCopy {
            sink: None,
            sent: Vec::new(),
            kept: 0,
            bytes: 0,
            binary,
            busy: Duration::ZERO,
            limit,
            failed: None,
        };
        let started = async {
            client.batch_execute("BEGIN").await?;
            client.copy_in::<_, Bytes>(sql).await
        };
        match timed_step(&mut copy.busy, limit, started).await {
            Ok(sink) => copy.sink = Some(Box::pin(sink)),
            Err(f) => copy.failed = Some(f),
        }
        if binary {
            let mut header = BytesMut::new();
            write_header(&mut header);
            copy.transmit(header.freeze()).await;
        }
        copy
    }

    /// Sends encoded rows and keeps them.
    pub(super) async fn send(&mut self, rows: Bytes) {
        self.keep(rows.clone());
        self.transmit(rows).await;
    }

    /// Keeps rows for writing the batch again, without sending them.
    pub(super) fn keep(&mut self, rows: Bytes) {
        self.kept += rows.len();
        self.sent.push(rows);
    }

    /// The bytes of rows kept so far.
    pub(super) fn kept_bytes(&self) -> usize {
        self.kept
    }

    async fn transmit(&mut self, data: Bytes) {
        let (Some(sink), None) = (self.sink.as_mut(), &self.failed) else {
            return;
        };
        let len = data.len() as u64;
        match timed_step(&mut self.busy, self.limit, sink.send(data)).await {
            Ok(()) => self.bytes += len,
            Err(f) => self.failed = Some(f),
        }
    }

    /// Ends the COPY and commits it; returns the bytes sent. After a server error the
    /// transaction is rolled back, so the session can write the batch again in parts.
    pub(super) async fn finish(&mut self, client: &Client) -> Result<u64, Failure> {
        if self.binary {
            let mut trailer = BytesMut::new();
            write_trailer(&mut trailer);
            self.transmit(trailer.freeze()).await;
        }
        let result = match (self.failed.take(), self.sink.as_mut()) {
            (Some(failure), _) => Err(failure),
            (None, None) => return Ok(self.bytes),
            (None, Some(sink)) => {
                let done = async {
                    sink.as_mut().finish().await?;
                    client.batch_execute("COMMIT").await
                };
                timed_step(&mut self.busy, self.limit, done).await
            }
        };
        match result {
            Ok(()) => Ok(self.bytes),
            Err(failure) => {
                if let Failure::Db(_) = failure {
                    // A session the server ended answers nothing; one that refused a row
                    // leaves the transaction aborted until this.
                    let _ = client.batch_execute("ROLLBACK").await;
                }
                Err(failure)
            }
        }
    }

    /// Every row kept, as one COPY body.
    pub(super) fn into_body(self) -> Bytes {
        match self.sent.as_slice() {
            [one] => one.clone(),
            parts => {
                let mut body = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
                for p in parts {
                    body.extend_from_slice(p);
                }
                body.freeze()
            }
        }
    }
}
