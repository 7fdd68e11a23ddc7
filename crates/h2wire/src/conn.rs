//! A server connection's HTTP/2 state as a pure machine: bytes in, events
//! and frames out, no I/O. The connection driver (the client connection's
//! task) reads bytes, hands them to [`Connection::recv`], acts on the
//! [`Event`], writes what landed in `out`, and sends responses with
//! [`Connection::send_response`] and [`Connection::send_data`].
//!
//! Kept here: the preface and SETTINGS exchange, stream states (RFC 9113
//! §5.1, server side), stream ids, flow-control windows both ways (§6.9),
//! field blocks assembled over CONTINUATION and decoded, requests checked
//! ([`crate::fields::check_request`]), the concurrent stream limit, and the
//! counters that stop the known floods:
//!
//! - **rapid reset** (CVE-2023-44487): streams the client resets before we
//!   answered them, and streams we refuse or reset at once (over the
//!   concurrency limit, malformed), less one per answered stream, over
//!   [`Config::max_rapid_resets`] → GOAWAY ENHANCE_YOUR_CALM;
//! - **CONTINUATION flood** (2024): a field block over
//!   [`Config::max_header_block`] bytes or [`Config::max_continuations`]
//!   frames → GOAWAY ENHANCE_YOUR_CALM, before it is decoded;
//! - **control floods** (SETTINGS, PING, PRIORITY, empty DATA, unknown
//!   frames: CVE-2019-9512/9515/9518): more than [`Config::max_idle_frames`]
//!   of them since the last request, or more than [`Config::max_queued_acks`]
//!   acknowledgements written since the driver last said it flushed
//!   ([`Connection::flushed`]) → GOAWAY ENHANCE_YOUR_CALM;
//! - **HPACK bomb**: a header list over SETTINGS_MAX_HEADER_LIST_SIZE is
//!   counted, not stored ([`Event::HeadersTooLarge`]: answer 431).
//!
//! Shutdown: [`Connection::go_away`] at once, or
//! [`Connection::begin_shutdown`] (GOAWAY, PING, then the final GOAWAY once
//! the PING's ack proves the client has seen the first). Liveness:
//! [`Connection::ping`].
//!
//! Not here: priorities (parsed, checked and ignored, as RFC 9113 allows),
//! server push (never), timers (the driver owns time: it asks
//! [`Connection::awaiting_settings_ack`] and calls
//! [`Connection::settings_timeout`]; PING timeouts, idle connections).

use crate::error::ErrorCode;
use crate::fields::{check_request, RequestPseudo};
use crate::frame::{self, check_preface, setting, Frame, Settings, MAX_WINDOW, PREFACE};
use crate::hpack::{Decoder, Encoder, HeaderList, Indexing};
use crate::{write, Scope};

/// Our side's settings and limits.
#[derive(Debug, Clone, Copy)]
pub struct Config {
    /// SETTINGS_MAX_CONCURRENT_STREAMS: more are refused (REFUSED_STREAM).
    pub max_concurrent_streams: u32,
    /// SETTINGS_INITIAL_WINDOW_SIZE: what a client may send on a stream
    /// before we release it. At least 65,535 (the value a client may use
    /// until it has seen our SETTINGS).
    pub initial_window_size: u32,
    /// The connection's receive window (opened with a WINDOW_UPDATE at start).
    pub connection_window: u32,
    /// SETTINGS_MAX_FRAME_SIZE.
    pub max_frame_size: u32,
    /// SETTINGS_MAX_HEADER_LIST_SIZE (decoded size, RFC 9113 §6.5.2).
    pub max_header_list_size: u32,
    /// SETTINGS_HEADER_TABLE_SIZE for the client's encoder.
    pub header_table_size: u32,
    /// Bytes of one field block over HEADERS and its CONTINUATIONs.
    pub max_header_block: usize,
    /// CONTINUATION frames in one field block.
    pub max_continuations: u32,
    /// Streams reset by the client before we answered, net of answered ones.
    pub max_rapid_resets: u32,
    /// Frames that move no request forward, since the last request head.
    pub max_idle_frames: u32,
    /// SETTINGS and PING acknowledgements written and not yet flushed.
    pub max_queued_acks: u32,
    /// Offer SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC 8441): extended CONNECT
    /// (`:protocol`, WebSocket over HTTP/2) is accepted only then; without
    /// it such a request is malformed (RFC 8441 §3).
    pub enable_connect_protocol: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_concurrent_streams: 100,
            initial_window_size: 256 * 1024,
            connection_window: 1024 * 1024,
            max_frame_size: frame::DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: 64 * 1024,
            header_table_size: 4096,
            max_header_block: 128 * 1024,
            max_continuations: 32,
            max_rapid_resets: 200,
            max_idle_frames: 1000,
            max_queued_acks: 256,
            enable_connect_protocol: false,
        }
    }
}

/// What happened, for the driver to act on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event<'a> {
    /// A request head, checked, in [`Connection::headers`]; `pseudo` says
    /// where its pseudo-headers are.
    Request {
        stream: u32,
        pseudo: RequestPseudo,
        end_stream: bool,
    },
    /// A request head over SETTINGS_MAX_HEADER_LIST_SIZE: its fields were
    /// not kept. Answer 431.
    HeadersTooLarge { stream: u32, end_stream: bool },
    /// Trailers in [`Connection::headers`]; the request body has ended.
    Trailers { stream: u32 },
    /// Request body bytes. Call [`Connection::release`] once they are
    /// consumed, so the client may send more.
    Data {
        stream: u32,
        data: &'a [u8],
        end_stream: bool,
    },
    /// The stream was reset, by the client or by us for a stream error:
    /// stop working on it.
    Reset { stream: u32, code: ErrorCode },
    /// Send capacity grew on the stream (0: on the connection).
    WindowOpened { stream: u32 },
    /// The client is going away: it will start no stream past `last_stream`.
    GoAway { last_stream: u32, code: ErrorCode },
    /// The client answered our [`Connection::ping`] (liveness, or a round
    /// trip measured by the driver).
    PingAck { data: [u8; 8] },
    /// Nothing for the driver (a frame handled here; a stream refused or
    /// reset before the driver saw it); frames may have been written.
    Nothing,
}

/// The connection failed: a GOAWAY with `code` has been written to `out`.
/// Flush it and close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnError {
    pub code: ErrorCode,
    pub reason: &'static str,
}

impl std::fmt::Display for ConnError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({:?})", self.reason, self.code)
    }
}

impl std::error::Error for ConnError {}

/// Counters for metrics: each says how often a defence acted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counters {
    pub requests: u64,
    pub resets_by_client: u64,
    pub refused_streams: u64,
    pub malformed_requests: u64,
    pub headers_too_large: u64,
    pub rapid_reset_goaways: u64,
    pub header_block_floods: u64,
    pub control_floods: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Open,
    /// The client ended its side (END_STREAM received).
    HalfClosedRemote,
    /// We ended ours (END_STREAM sent); the request body goes on.
    HalfClosedLocal,
}

#[derive(Debug)]
struct Stream {
    id: u32,
    state: State,
    recv_window: i64,
    recv_unacked: u32,
    send_window: i64,
}

/// One server connection.
#[derive(Debug)]
pub struct Connection {
    cfg: Config,
    preface_done: bool,
    got_settings: bool,
    peer: Settings,
    dec: Decoder,
    enc: Encoder,
    list: HeaderList,
    /// The field block in progress (HEADERS + CONTINUATIONs).
    block: Vec<u8>,
    block_stream: u32,
    block_end_stream: bool,
    block_self_dependent: bool,
    block_frames: u32,
    scratch: Vec<u8>,
    streams: Vec<Stream>,
    /// The highest stream id the client has used.
    last_stream: u32,
    recv_window: i64,
    recv_unacked: u32,
    send_window: i64,
    rapid_resets: u32,
    idle_frames: u32,
    queued_acks: u32,
    counters: Counters,
    /// The payload of our PING awaiting its ack (not the shutdown one).
    ping_sent: Option<[u8; 8]>,
    /// Our GOAWAY's last stream, once sent: streams above it are refused.
    goaway_last: Option<u32>,
    /// A graceful shutdown waits for the ack of its PING.
    shutdown_ping: bool,
    /// Our SETTINGS are not acknowledged yet.
    settings_unacked: bool,
}

/// The PING payload of a graceful shutdown (as h2 and nghttp2 do it).
const SHUTDOWN_PING: [u8; 8] = *b"shutdown";

impl Connection {
    /// A connection whose client preface is still to come: our SETTINGS
    /// (and the WINDOW_UPDATE opening the connection window) go into `out`
    /// now, as §3.4 lets a server send them before reading anything.
    pub fn new(cfg: Config, out: &mut Vec<u8>) -> Connection {
        let cfg = Config {
            initial_window_size: cfg
                .initial_window_size
                .clamp(frame::DEFAULT_WINDOW, MAX_WINDOW),
            connection_window: cfg
                .connection_window
                .clamp(frame::DEFAULT_WINDOW, MAX_WINDOW),
            max_frame_size: cfg
                .max_frame_size
                .clamp(frame::DEFAULT_MAX_FRAME_SIZE, frame::MAX_MAX_FRAME_SIZE),
            ..cfg
        };
        let ours = [
            (setting::ENABLE_PUSH, 0),
            (setting::MAX_CONCURRENT_STREAMS, cfg.max_concurrent_streams),
            (setting::INITIAL_WINDOW_SIZE, cfg.initial_window_size),
            (setting::MAX_FRAME_SIZE, cfg.max_frame_size),
            (setting::MAX_HEADER_LIST_SIZE, cfg.max_header_list_size),
            (setting::HEADER_TABLE_SIZE, cfg.header_table_size),
            (setting::ENABLE_CONNECT_PROTOCOL, 1),
        ];
        // The connect setting only when on: a 0 means what its absence does.
        let n = ours.len() - usize::from(!cfg.enable_connect_protocol);
        write::settings(out, &ours[..n]);
        if cfg.connection_window > frame::DEFAULT_WINDOW {
            write::window_update(out, 0, cfg.connection_window - frame::DEFAULT_WINDOW);
        }
        // The client may use a 4,096-byte table until it has our SETTINGS;
        // a smaller size binds it once they are acknowledged.
        let table = (cfg.header_table_size as usize).max(crate::hpack::DEFAULT_TABLE_SIZE);
        Connection {
            cfg,
            preface_done: false,
            got_settings: false,
            peer: Settings::default(),
            dec: Decoder::new(table, cfg.max_header_list_size as usize),
            enc: Encoder::new(),
            list: HeaderList::new(),
            block: Vec::new(),
            block_stream: 0,
            block_end_stream: false,
            block_self_dependent: false,
            block_frames: 0,
            scratch: Vec::new(),
            streams: Vec::new(),
            last_stream: 0,
            recv_window: i64::from(cfg.connection_window),
            recv_unacked: 0,
            send_window: i64::from(frame::DEFAULT_WINDOW),
            rapid_resets: 0,
            idle_frames: 0,
            queued_acks: 0,
            counters: Counters::default(),
            ping_sent: None,
            goaway_last: None,
            shutdown_ping: false,
            settings_unacked: true,
        }
    }

    /// The fields of the last [`Event::Request`] or [`Event::Trailers`].
    pub fn headers(&self) -> &HeaderList {
        &self.list
    }

    pub fn counters(&self) -> Counters {
        self.counters
    }

    /// The client's settings as last received.
    pub fn peer_settings(&self) -> &Settings {
        &self.peer
    }

    /// Streams open (in any state short of closed).
    pub fn open_streams(&self) -> usize {
        self.streams.len()
    }

    /// Whether `stream` is open (in any state short of closed).
    pub fn is_open(&self, stream: u32) -> bool {
        self.stream(stream).is_some()
    }

    /// The highest stream id the client has started (for our GOAWAY).
    pub fn last_stream(&self) -> u32 {
        self.last_stream
    }

    /// Give back the per-request buffers (the field block, the decoded
    /// fields, the encoder's scratch): for a connection gone idle. The HPACK
    /// tables stay: they are the connection's state (each up to twice its
    /// table size once warm).
    pub fn trim(&mut self) {
        self.block = Vec::new();
        self.scratch = Vec::new();
        self.list = HeaderList::new();
        self.streams.shrink_to_fit();
    }

    /// The driver wrote `out` to the socket: acknowledgements are no
    /// longer piling up.
    pub fn flushed(&mut self) {
        self.queued_acks = 0;
    }

    /// Take what `buf` starts with: `Ok(None)` until a whole preface or frame
    /// is there, else the event and how many bytes were used. Frames we owe
    /// (acks, RST_STREAM, WINDOW_UPDATE, GOAWAY) are appended to `out`.
    pub fn recv<'a>(
        &mut self,
        buf: &'a [u8],
        out: &mut Vec<u8>,
    ) -> Result<Option<(Event<'a>, usize)>, ConnError> {
        if !self.preface_done {
            return match check_preface(buf) {
                Ok(true) => {
                    self.preface_done = true;
                    Ok(Some((Event::Nothing, PREFACE.len())))
                }
                Ok(false) => Ok(None),
                Err(e) => Err(self.fail(e.code, e.reason, out)),
            };
        }
        let (f, used) = match frame::parse(buf, self.cfg.max_frame_size) {
            Ok(None) => return Ok(None),
            Ok(Some(parsed)) => parsed,
            Err(e) => {
                return match e.scope {
                    Scope::Connection => Err(self.fail(e.code, e.reason, out)),
                    Scope::Stream(id) => {
                        let ev = self.stream_error(id, e.code, out);
                        Ok(Some((ev, e.frame_len)))
                    }
                };
            }
        };
        if !self.got_settings && !matches!(f, Frame::Settings { ack: false, .. }) {
            return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "preface-without-settings", out));
        }
        if self.block_stream != 0 && !matches!(f, Frame::Continuation { .. }) {
            return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "frame-inside-field-block", out));
        }
        let ev = self.on_frame(f, out)?;
        Ok(Some((ev, used)))
    }

    fn on_frame<'a>(&mut self, f: Frame<'a>, out: &mut Vec<u8>) -> Result<Event<'a>, ConnError> {
        match f {
            Frame::Settings { ack: false, params } => {
                self.got_settings = true;
                let old = i64::from(self.peer.initial_window_size);
                self.peer.apply(params);
                let delta = i64::from(self.peer.initial_window_size) - old;
                for s in &mut self.streams {
                    s.send_window += delta;
                    if s.send_window > i64::from(MAX_WINDOW) {
                        return Err(self.fail(
                            ErrorCode::FLOW_CONTROL_ERROR,
                            "window-overflow",
                            out,
                        ));
                    }
                }
                self.enc
                    .set_peer_max_table_size(self.peer.header_table_size as usize);
                write::settings_ack(out);
                self.ack_written(out)?;
                self.idle_frame(out)?;
                Ok(if delta > 0 {
                    Event::WindowOpened { stream: 0 }
                } else {
                    Event::Nothing
                })
            }
            Frame::Settings { ack: true, .. } => {
                self.settings_unacked = false;
                self.dec
                    .set_max_table_size(self.cfg.header_table_size as usize);
                Ok(Event::Nothing)
            }
            Frame::Ping { ack: false, data } => {
                write::ping(out, true, data);
                self.ack_written(out)?;
                self.idle_frame(out)?;
                Ok(Event::Nothing)
            }
            Frame::Ping { ack: true, data } if self.shutdown_ping && data == SHUTDOWN_PING => {
                // A round trip since our first GOAWAY: every stream the client
                // started before it has reached us. The final GOAWAY names
                // the last one.
                self.shutdown_ping = false;
                self.go_away(ErrorCode::NO_ERROR, out);
                Ok(Event::Nothing)
            }
            Frame::Ping { ack: true, data } if self.ping_sent == Some(data) => {
                self.ping_sent = None;
                Ok(Event::PingAck { data })
            }
            Frame::Ping { ack: true, .. } | Frame::Priority { .. } | Frame::Unknown { .. } => {
                self.idle_frame(out)?;
                Ok(Event::Nothing)
            }
            Frame::GoAway {
                last_stream, code, ..
            } => Ok(Event::GoAway { last_stream, code }),
            Frame::WindowUpdate {
                stream: 0,
                increment,
            } => {
                self.send_window += i64::from(increment);
                if self.send_window > i64::from(MAX_WINDOW) {
                    return Err(self.fail(ErrorCode::FLOW_CONTROL_ERROR, "window-overflow", out));
                }
                Ok(Event::WindowOpened { stream: 0 })
            }
            Frame::WindowUpdate { stream, increment } => {
                self.not_idle(stream, out)?;
                let Some(s) = self.stream_mut(stream) else {
                    return Ok(Event::Nothing);
                };
                s.send_window += i64::from(increment);
                if s.send_window > i64::from(MAX_WINDOW) {
                    return Ok(self.stream_error(stream, ErrorCode::FLOW_CONTROL_ERROR, out));
                }
                Ok(Event::WindowOpened { stream })
            }
            Frame::RstStream { stream, code } => {
                self.not_idle(stream, out)?;
                let Some(i) = self.index(stream) else {
                    return Ok(Event::Nothing);
                };
                self.streams.swap_remove(i);
                self.counters.resets_by_client += 1;
                // Every stream in `streams` is one we have not finished
                // answering: a reset of it is the rapid-reset pattern.
                self.count_unanswered(out)?;
                Ok(Event::Reset { stream, code })
            }
            Frame::Headers {
                stream,
                block,
                end_stream,
                end_headers,
                priority,
            } => {
                if stream.is_multiple_of(2) {
                    return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "even-stream-id", out));
                }
                self.block.clear();
                self.block.extend_from_slice(block);
                self.block_stream = stream;
                self.block_end_stream = end_stream;
                self.block_self_dependent = priority.is_some_and(|p| p.dependency == stream);
                self.block_frames = 1;
                self.check_block(out)?;
                if end_headers {
                    self.end_block(out)
                } else {
                    Ok(Event::Nothing)
                }
            }
            Frame::Continuation {
                stream,
                block,
                end_headers,
            } => {
                if stream != self.block_stream {
                    return Err(self.fail(
                        ErrorCode::PROTOCOL_ERROR,
                        "unexpected-continuation",
                        out,
                    ));
                }
                self.block.extend_from_slice(block);
                self.block_frames += 1;
                self.check_block(out)?;
                if end_headers {
                    self.end_block(out)
                } else {
                    Ok(Event::Nothing)
                }
            }
            Frame::Data {
                stream,
                data,
                end_stream,
                flow_len,
            } => self.on_data(stream, data, end_stream, flow_len, out),
        }
    }

    fn on_data<'a>(
        &mut self,
        stream: u32,
        data: &'a [u8],
        end_stream: bool,
        flow_len: u32,
        out: &mut Vec<u8>,
    ) -> Result<Event<'a>, ConnError> {
        self.not_idle(stream, out)?;
        let flow = i64::from(flow_len);
        if flow > self.recv_window {
            return Err(self.fail(
                ErrorCode::FLOW_CONTROL_ERROR,
                "connection-window-exceeded",
                out,
            ));
        }
        self.recv_window -= flow;
        let pad = flow_len - data.len() as u32;
        let Some(i) = self
            .index(stream)
            .filter(|&i| self.streams[i].state != State::HalfClosedRemote)
        else {
            // A closed stream (or one whose body ended): give the connection
            // window back, refuse the stream (§6.1).
            self.release_connection(flow_len, out);
            write::rst_stream(out, stream, ErrorCode::STREAM_CLOSED);
            self.idle_frame(out)?;
            return Ok(Event::Nothing);
        };
        if flow > self.streams[i].recv_window {
            self.release_connection(flow_len, out);
            return Ok(self.stream_error(stream, ErrorCode::FLOW_CONTROL_ERROR, out));
        }
        self.streams[i].recv_window -= flow;
        if data.is_empty() && !end_stream {
            self.idle_frame(out)?;
        }
        if end_stream {
            if self.streams[i].state == State::HalfClosedLocal {
                self.streams.swap_remove(i);
            } else {
                self.streams[i].state = State::HalfClosedRemote;
            }
        }
        // Padding is never handed out: released at once.
        if pad > 0 {
            self.release(stream, pad, out);
        }
        Ok(Event::Data {
            stream,
            data,
            end_stream,
        })
    }

    /// A block over its bounds is the CONTINUATION flood: refused before it
    /// is decoded or grows further.
    fn check_block(&mut self, out: &mut Vec<u8>) -> Result<(), ConnError> {
        if self.block.len() > self.cfg.max_header_block
            || self.block_frames > self.cfg.max_continuations + 1
        {
            self.counters.header_block_floods += 1;
            return Err(self.fail(ErrorCode::ENHANCE_YOUR_CALM, "header-block-flood", out));
        }
        Ok(())
    }

    fn end_block<'a>(&mut self, out: &mut Vec<u8>) -> Result<Event<'a>, ConnError> {
        let stream = std::mem::take(&mut self.block_stream);
        let end_stream = self.block_end_stream;
        if self.dec.decode(&self.block, &mut self.list).is_err() {
            return Err(self.fail(ErrorCode::COMPRESSION_ERROR, "hpack", out));
        }
        if stream <= self.last_stream {
            return self.trailers(stream, end_stream, out);
        }
        self.last_stream = stream;
        self.idle_frames = 0;
        if self.goaway_last.is_some_and(|last| stream > last) {
            // After our final GOAWAY: not processed, the client may retry it
            // on a new connection (§6.8).
            write::rst_stream(out, stream, ErrorCode::REFUSED_STREAM);
            return Ok(Event::Nothing);
        }
        if self.block_self_dependent {
            return self.refuse(stream, ErrorCode::PROTOCOL_ERROR, out);
        }
        if self.streams.len() >= self.cfg.max_concurrent_streams as usize {
            self.counters.refused_streams += 1;
            return self.refuse(stream, ErrorCode::REFUSED_STREAM, out);
        }
        let too_large = self.list.too_large();
        let pseudo = if too_large {
            None
        } else {
            match check_request(&self.list) {
                // `:protocol` without our SETTINGS_ENABLE_CONNECT_PROTOCOL
                // is malformed (RFC 8441 §3).
                Ok(p) if p.protocol.is_none() || self.cfg.enable_connect_protocol => Some(p),
                Ok(_) | Err(_) => {
                    self.counters.malformed_requests += 1;
                    return self.refuse(stream, ErrorCode::PROTOCOL_ERROR, out);
                }
            }
        };
        self.streams.push(Stream {
            id: stream,
            state: if end_stream {
                State::HalfClosedRemote
            } else {
                State::Open
            },
            recv_window: i64::from(self.cfg.initial_window_size),
            recv_unacked: 0,
            send_window: i64::from(self.peer.initial_window_size),
        });
        Ok(match pseudo {
            Some(pseudo) => {
                self.counters.requests += 1;
                Event::Request {
                    stream,
                    pseudo,
                    end_stream,
                }
            }
            None => {
                self.counters.headers_too_large += 1;
                Event::HeadersTooLarge { stream, end_stream }
            }
        })
    }

    /// A field block on a stream already started: trailers, or a block on a
    /// closed stream (decoded for HPACK's sake, then ignored).
    fn trailers<'a>(
        &mut self,
        stream: u32,
        end_stream: bool,
        out: &mut Vec<u8>,
    ) -> Result<Event<'a>, ConnError> {
        let Some(i) = self.index(stream) else {
            self.idle_frame(out)?;
            return Ok(Event::Nothing);
        };
        let pseudo = self.list.iter().any(|(n, _)| crate::fields::is_pseudo(n));
        if self.streams[i].state == State::HalfClosedRemote {
            return Ok(self.stream_error(stream, ErrorCode::STREAM_CLOSED, out));
        }
        if !end_stream || pseudo || self.list.too_large() {
            // Trailers end the stream and carry no pseudo-headers (§8.1).
            self.counters.malformed_requests += 1;
            return Ok(self.stream_error(stream, ErrorCode::PROTOCOL_ERROR, out));
        }
        if self.streams[i].state == State::HalfClosedLocal {
            self.streams.swap_remove(i);
        } else {
            self.streams[i].state = State::HalfClosedRemote;
        }
        Ok(Event::Trailers { stream })
    }

    // === sending ===

    /// Bytes of DATA the windows allow on `stream` now.
    pub fn send_capacity(&self, stream: u32) -> usize {
        let Some(s) = self
            .stream(stream)
            .filter(|s| s.state != State::HalfClosedLocal)
        else {
            return 0;
        };
        s.send_window.min(self.send_window).max(0) as usize
    }

    /// Send a response head. `fields` are lowercase names with their values
    /// (no connection-specific ones). False if the stream is gone (reset) or
    /// our side of it has ended.
    pub fn send_response<'f>(
        &mut self,
        stream: u32,
        status: u16,
        fields: impl IntoIterator<Item = (&'f [u8], &'f [u8])>,
        end_stream: bool,
        out: &mut Vec<u8>,
    ) -> bool {
        if !self.can_send(stream) {
            return false;
        }
        self.scratch.clear();
        self.enc.begin_block(&mut self.scratch);
        self.enc.encode_status(status, &mut self.scratch);
        for (name, value) in fields {
            self.enc
                .encode(name, value, indexing_for(name), &mut self.scratch);
        }
        write::headers(
            out,
            stream,
            &self.scratch,
            end_stream,
            self.peer.max_frame_size,
        );
        if end_stream {
            self.ended_local(stream);
        }
        true
    }

    /// Send trailers (they end the stream). False if the stream is gone or
    /// our side of it has ended.
    pub fn send_trailers<'f>(
        &mut self,
        stream: u32,
        fields: impl IntoIterator<Item = (&'f [u8], &'f [u8])>,
        out: &mut Vec<u8>,
    ) -> bool {
        if !self.can_send(stream) {
            return false;
        }
        self.scratch.clear();
        self.enc.begin_block(&mut self.scratch);
        for (name, value) in fields {
            self.enc
                .encode(name, value, indexing_for(name), &mut self.scratch);
        }
        write::headers(out, stream, &self.scratch, true, self.peer.max_frame_size);
        self.ended_local(stream);
        true
    }

    /// Send as much of `data` as the windows allow, in frames the client
    /// accepts; END_STREAM only if all of it went. Returns the bytes sent.
    pub fn send_data(
        &mut self,
        stream: u32,
        data: &[u8],
        end_stream: bool,
        out: &mut Vec<u8>,
    ) -> usize {
        let n = data.len().min(self.send_capacity(stream));
        if !self.can_send(stream) || (n == 0 && !data.is_empty()) {
            return 0;
        }
        let all = n == data.len();
        let max = self.peer.max_frame_size as usize;
        let mut sent = 0;
        loop {
            let chunk = &data[sent..(sent + max).min(n)];
            sent += chunk.len();
            write::data(out, stream, chunk, end_stream && all && sent == n);
            if sent == n {
                break;
            }
        }
        self.send_window -= n as i64;
        if let Some(s) = self.stream_mut(stream) {
            s.send_window -= n as i64;
        }
        if end_stream && all {
            self.ended_local(stream);
        }
        n
    }

    /// `n` bytes of DATA on `stream` were consumed: the client may send as
    /// much again (a WINDOW_UPDATE once half a window is owed).
    pub fn release(&mut self, stream: u32, n: u32, out: &mut Vec<u8>) {
        self.release_connection(n, out);
        let half = self.cfg.initial_window_size / 2;
        if let Some(s) = self.stream_mut(stream) {
            if s.state == State::HalfClosedRemote {
                return;
            }
            s.recv_unacked += n;
            if s.recv_unacked >= half {
                let inc = std::mem::take(&mut s.recv_unacked);
                s.recv_window += i64::from(inc);
                write::window_update(out, stream, inc);
            }
        }
    }

    fn release_connection(&mut self, n: u32, out: &mut Vec<u8>) {
        self.recv_unacked += n;
        if self.recv_unacked >= self.cfg.connection_window / 2 {
            let inc = std::mem::take(&mut self.recv_unacked);
            self.recv_window += i64::from(inc);
            write::window_update(out, 0, inc);
        }
    }

    /// Reset a stream (we give up on it).
    pub fn reset(&mut self, stream: u32, code: ErrorCode, out: &mut Vec<u8>) {
        if let Some(i) = self.index(stream) {
            self.streams.swap_remove(i);
        }
        write::rst_stream(out, stream, code);
    }

    /// Tell the client we are closing now: streams up to
    /// [`Self::last_stream`] are still answered, later ones refused.
    pub fn go_away(&mut self, code: ErrorCode, out: &mut Vec<u8>) {
        write::goaway(out, self.last_stream, code, b"");
        self.goaway_last = Some(self.last_stream);
    }

    /// Start a graceful shutdown (RFC 9113 §6.8): a GOAWAY naming the
    /// highest possible stream and a PING; when the PING's ack arrives, the
    /// final GOAWAY names the last stream the client started. Close once
    /// [`Self::open_streams`] is 0 after that ([`Self::is_closing`]).
    pub fn begin_shutdown(&mut self, out: &mut Vec<u8>) {
        if self.goaway_last.is_some() || self.shutdown_ping {
            return;
        }
        write::goaway(out, MAX_WINDOW, ErrorCode::NO_ERROR, b"");
        write::ping(out, false, SHUTDOWN_PING);
        self.shutdown_ping = true;
    }

    /// Our SETTINGS still wait for the client's acknowledgement. The driver
    /// owns the clock: past its timeout it calls [`Self::settings_timeout`].
    pub fn awaiting_settings_ack(&self) -> bool {
        self.settings_unacked
    }

    /// The client did not acknowledge our SETTINGS in time (RFC 9113
    /// §6.5.3): a GOAWAY SETTINGS_TIMEOUT goes into `out`; close once it is
    /// written.
    pub fn settings_timeout(&mut self, out: &mut Vec<u8>) -> ConnError {
        self.fail(ErrorCode::SETTINGS_TIMEOUT, "settings-timeout", out)
    }

    /// Our final GOAWAY is out: no new stream will be served.
    pub fn is_closing(&self) -> bool {
        self.goaway_last.is_some()
    }

    /// Send a PING (one at a time); its ack comes back as [`Event::PingAck`].
    /// False if one is already out.
    pub fn ping(&mut self, data: [u8; 8], out: &mut Vec<u8>) -> bool {
        if self.ping_sent.is_some() || data == SHUTDOWN_PING {
            return false;
        }
        write::ping(out, false, data);
        self.ping_sent = Some(data);
        true
    }

    // === helpers ===

    fn ended_local(&mut self, stream: u32) {
        let Some(i) = self.index(stream) else { return };
        // An answered stream pays back one rapid reset.
        self.rapid_resets = self.rapid_resets.saturating_sub(1);
        if self.streams[i].state == State::HalfClosedRemote {
            self.streams.swap_remove(i);
        } else {
            self.streams[i].state = State::HalfClosedLocal;
        }
    }

    /// The stream is open and we have not ended our side.
    fn can_send(&self, stream: u32) -> bool {
        self.stream(stream)
            .is_some_and(|s| s.state != State::HalfClosedLocal)
    }

    fn index(&self, stream: u32) -> Option<usize> {
        self.streams.iter().position(|s| s.id == stream)
    }

    fn stream(&self, stream: u32) -> Option<&Stream> {
        self.streams.iter().find(|s| s.id == stream)
    }

    fn stream_mut(&mut self, stream: u32) -> Option<&mut Stream> {
        self.streams.iter_mut().find(|s| s.id == stream)
    }

    /// A new stream we reset at once (refused, malformed). It costs us a
    /// decode and a frame, as a rapid reset does: it counts as one.
    fn refuse<'a>(
        &mut self,
        stream: u32,
        code: ErrorCode,
        out: &mut Vec<u8>,
    ) -> Result<Event<'a>, ConnError> {
        write::rst_stream(out, stream, code);
        self.count_unanswered(out)?;
        Ok(Event::Nothing)
    }

    fn count_unanswered(&mut self, out: &mut Vec<u8>) -> Result<(), ConnError> {
        self.rapid_resets += 1;
        if self.rapid_resets > self.cfg.max_rapid_resets {
            self.counters.rapid_reset_goaways += 1;
            return Err(self.fail(ErrorCode::ENHANCE_YOUR_CALM, "rapid-reset", out));
        }
        Ok(())
    }

    /// A frame on a stream the client has not opened yet (§5.1: idle), or
    /// on an even one (ours to open, and we open none).
    fn not_idle(&mut self, stream: u32, out: &mut Vec<u8>) -> Result<(), ConnError> {
        if stream > self.last_stream || stream.is_multiple_of(2) {
            return Err(self.fail(ErrorCode::PROTOCOL_ERROR, "frame-on-idle-stream", out));
        }
        Ok(())
    }

    fn stream_error<'a>(&mut self, stream: u32, code: ErrorCode, out: &mut Vec<u8>) -> Event<'a> {
        write::rst_stream(out, stream, code);
        match self.index(stream) {
            Some(i) => {
                self.streams.swap_remove(i);
                Event::Reset { stream, code }
            }
            None => Event::Nothing,
        }
    }

    fn idle_frame(&mut self, out: &mut Vec<u8>) -> Result<(), ConnError> {
        self.idle_frames += 1;
        if self.idle_frames > self.cfg.max_idle_frames {
            self.counters.control_floods += 1;
            return Err(self.fail(ErrorCode::ENHANCE_YOUR_CALM, "control-frame-flood", out));
        }
        Ok(())
    }

    fn ack_written(&mut self, out: &mut Vec<u8>) -> Result<(), ConnError> {
        self.queued_acks += 1;
        if self.queued_acks > self.cfg.max_queued_acks {
            self.counters.control_floods += 1;
            return Err(self.fail(ErrorCode::ENHANCE_YOUR_CALM, "ack-flood", out));
        }
        Ok(())
    }

    fn fail(&mut self, code: ErrorCode, reason: &'static str, out: &mut Vec<u8>) -> ConnError {
        write::goaway(out, self.last_stream, code, reason.as_bytes());
        ConnError { code, reason }
    }
}

/// How a response field uses the dynamic table: indexed where the same
/// value repeats on a connection, never indexed for secrets, literal for
/// the rest.
pub fn indexing_for(name: &[u8]) -> Indexing {
    match name {
        b"server"
        | b"content-type"
        | b"cache-control"
        | b"vary"
        | b"via"
        | b"x-content-type-options"
        | b"strict-transport-security"
        | b"access-control-allow-origin"
        | b"content-encoding" => Indexing::Incremental,
        b"set-cookie" | b"authorization" | b"proxy-authorization" | b"cookie" => Indexing::Never,
        _ => Indexing::Without,
    }
}
