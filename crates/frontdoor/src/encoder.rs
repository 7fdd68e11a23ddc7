//! Streaming encoders (gzip, brotli, zstd) writing into their own buffer, which the
//! response body drains (see `compress` for when they are used). A leaf.

use std::io::Write;

use bytes::Bytes;

/// An encoding we produce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Coding {
    Brotli,
    Zstd,
    Gzip,
}

impl Coding {
    pub(crate) fn token(self) -> &'static str {
        match self {
            Coding::Brotli => "br",
            Coding::Zstd => "zstd",
            Coding::Gzip => "gzip",
        }
    }
}

/// A streaming encoder writing into its own buffer, which the body drains.
pub(crate) enum Encoder {
    // Boxed like the others: an encoder's state is kilobytes (zlib-rs keeps a few hundred bytes inline).
    Gzip(Box<flate2::write::GzEncoder<Vec<u8>>>),
    Brotli(Box<brotli::CompressorWriter<Vec<u8>>>),
    Zstd(Box<zstd::stream::write::Encoder<'static, Vec<u8>>>),
    Finished,
}

impl Encoder {
    pub(crate) fn new(coding: Coding, level: u32) -> Encoder {
        match coding {
            Coding::Gzip => Encoder::Gzip(Box::new(flate2::write::GzEncoder::new(
                Vec::with_capacity(8 * 1024),
                flate2::Compression::new(level.clamp(1, 9)),
            ))),
            // Brotli quality 0-11; ours 1-9 maps onto 1-9 (5 is about gzip 6's speed).
            Coding::Brotli => Encoder::Brotli(Box::new(brotli::CompressorWriter::new(
                Vec::with_capacity(8 * 1024),
                4096,
                level.clamp(1, 9),
                22,
            ))),
            // zstd levels 1-9 keep the window at 4 MiB or less, inside the
            // 8 MiB that browsers accept for HTTP (RFC 8878 section 3.1.1.1.2).
            Coding::Zstd => Encoder::Zstd(Box::new(
                zstd::stream::write::Encoder::new(
                    Vec::with_capacity(8 * 1024),
                    level.clamp(1, 9) as i32,
                )
                .expect("a zstd level in 1..=9 is valid"),
            )),
        }
    }

    fn out(&mut self) -> &mut Vec<u8> {
        match self {
            Encoder::Gzip(e) => e.get_mut(),
            Encoder::Brotli(e) => e.get_mut(),
            Encoder::Zstd(e) => e.get_mut(),
            Encoder::Finished => unreachable!("no output after finish"),
        }
    }

    /// Feeds `data`; returns what the encoder produced so far (maybe nothing).
    pub(crate) fn write(&mut self, data: &[u8]) -> std::io::Result<Bytes> {
        match self {
            Encoder::Gzip(e) => e.write_all(data)?,
            Encoder::Brotli(e) => e.write_all(data)?,
            Encoder::Zstd(e) => e.write_all(data)?,
            Encoder::Finished => return Ok(Bytes::new()),
        }
        Ok(Bytes::from(std::mem::take(self.out())))
    }

    /// Pushes out everything written so far (the server paused).
    pub(crate) fn flush(&mut self) -> std::io::Result<Bytes> {
        match self {
            Encoder::Gzip(e) => e.flush()?,
            Encoder::Brotli(e) => e.flush()?,
            // Ends the current block: what was written so far decodes.
            Encoder::Zstd(e) => e.flush()?,
            Encoder::Finished => return Ok(Bytes::new()),
        }
        Ok(Bytes::from(std::mem::take(self.out())))
    }

    /// Ends the stream; returns the last bytes.
    pub(crate) fn finish(&mut self) -> std::io::Result<Bytes> {
        let out = match std::mem::replace(self, Encoder::Finished) {
            Encoder::Gzip(e) => e.finish()?,
            // `into_inner` writes brotli's final block.
            Encoder::Brotli(e) => e.into_inner(),
            Encoder::Zstd(e) => e.finish()?,
            Encoder::Finished => Vec::new(),
        };
        Ok(Bytes::from(out))
    }
}
