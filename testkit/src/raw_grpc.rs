//! A gRPC client that sends request bytes exactly as given, to probe how a server answers
//! input no generated client would produce (truncated messages, strings that are not UTF-8).

use bytes::{Buf, BufMut};
use tonic::codec::{Codec, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::{Request, Status};

/// Sends `message` (the encoded request, framed as one gRPC message but otherwise untouched)
/// to the unary method `path` (e.g. `/maestro.order.v1.OrderService/CreateOrder`) at
/// `endpoint`; returns the reply's bytes or the status the server answered.
pub async fn unary(
    endpoint: &str,
    path: &str,
    message: Vec<u8>,
) -> anyhow::Result<Result<Vec<u8>, Status>> {
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())?
        .connect()
        .await?;
    let mut grpc = tonic::client::Grpc::new(channel);
    grpc.ready().await?;
    let path = PathAndQuery::try_from(path)?;
    Ok(grpc
        .unary(Request::new(message), path, RawCodec)
        .await
        .map(tonic::Response::into_inner))
}

/// Sends `body` as the whole HTTP/2 request body of a gRPC call to `path` at `endpoint`, not
/// framed (so it can end inside a frame); returns the status the server answered.
pub async fn unframed(endpoint: &str, path: &str, body: Vec<u8>) -> anyhow::Result<Status> {
    use http_body_util::{BodyExt, Full};
    use tower::ServiceExt;
    let channel = tonic::transport::Endpoint::from_shared(endpoint.to_string())?
        .connect()
        .await?;
    let request = tonic::codegen::http::Request::post(format!("{endpoint}{path}"))
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(tonic::body::Body::new(Full::new(bytes::Bytes::from(body))))?;
    let response = channel.oneshot(request).await?;
    if let Some(status) = Status::from_header_map(response.headers()) {
        return Ok(status);
    }
    let collected = response.into_body().collect().await?;
    collected
        .trailers()
        .and_then(Status::from_header_map)
        .ok_or_else(|| anyhow::anyhow!("the reply carries no gRPC status"))
}

/// Passes bytes through both ways.
#[derive(Debug, Clone, Copy, Default)]
struct RawCodec;

impl Codec for RawCodec {
    type Encode = Vec<u8>;
    type Decode = Vec<u8>;
    type Encoder = RawCodec;
    type Decoder = RawCodec;

    fn encoder(&mut self) -> Self::Encoder {
        RawCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        RawCodec
    }
}

impl Encoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn encode(&mut self, item: Vec<u8>, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put_slice(&item);
        Ok(())
    }
}

impl Decoder for RawCodec {
    type Item = Vec<u8>;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<Vec<u8>>, Status> {
        let bytes = src.copy_to_bytes(src.remaining());
        Ok(Some(bytes.to_vec()))
    }
}
