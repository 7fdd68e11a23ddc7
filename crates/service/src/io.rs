//! I/O wrappers' boilerplate, written once.

/// Implements `tokio::io::AsyncWrite` for a wrapper by forwarding every method
/// (vectored writes included, so a wrapper never turns one `writev` into
/// several `write`s) to its field `$field`, an `AsyncWrite + Unpin`.
/// For wrappers that add to reads only (a prefix, a timer, a counter).
///
/// ```text
/// service::forward_async_write!(impl[S: AsyncWrite + Unpin] Wrapper<S>, inner);
/// service::forward_async_write!(impl Plain, io);
/// ```
#[macro_export]
macro_rules! forward_async_write {
    (impl[$($gen:tt)*] $ty:ty, $field:ident) => {
        impl<$($gen)*> $crate::io::AsyncWrite for $ty {
            fn poll_write(
                mut self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                buf: &[u8],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                $crate::io::AsyncWrite::poll_write(::std::pin::Pin::new(&mut self.$field), cx, buf)
            }
            fn poll_write_vectored(
                mut self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
                bufs: &[::std::io::IoSlice<'_>],
            ) -> ::std::task::Poll<::std::io::Result<usize>> {
                $crate::io::AsyncWrite::poll_write_vectored(
                    ::std::pin::Pin::new(&mut self.$field),
                    cx,
                    bufs,
                )
            }
            fn is_write_vectored(&self) -> bool {
                $crate::io::AsyncWrite::is_write_vectored(&self.$field)
            }
            fn poll_flush(
                mut self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                $crate::io::AsyncWrite::poll_flush(::std::pin::Pin::new(&mut self.$field), cx)
            }
            fn poll_shutdown(
                mut self: ::std::pin::Pin<&mut Self>,
                cx: &mut ::std::task::Context<'_>,
            ) -> ::std::task::Poll<::std::io::Result<()>> {
                $crate::io::AsyncWrite::poll_shutdown(::std::pin::Pin::new(&mut self.$field), cx)
            }
        }
    };
    (impl $ty:ty, $field:ident) => {
        $crate::forward_async_write!(impl[] $ty, $field);
    };
}

#[doc(hidden)]
pub use tokio::io::AsyncWrite;

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncWrite, AsyncWriteExt};

    struct Wrapper<W> {
        inner: W,
    }
    crate::forward_async_write!(impl[W: AsyncWrite + Unpin] Wrapper<W>, inner);

    #[tokio::test]
    async fn forwards_writes_vectored_writes_and_shutdown() {
        let mut w = Wrapper { inner: Vec::new() };
        w.write_all(b"one ").await.unwrap();
        let bufs = [
            std::io::IoSlice::new(b"two "),
            std::io::IoSlice::new(b"three"),
        ];
        let n = w.write_vectored(&bufs).await.unwrap();
        w.flush().await.unwrap();
        w.shutdown().await.unwrap();
        assert_eq!(n, 9);
        assert_eq!(w.inner, b"one two three");
        assert!(
            w.is_write_vectored(),
            "a Vec<u8> takes vectored writes, so the wrapper does"
        );
    }
}
