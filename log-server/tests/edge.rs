//! The gRPC edge of a real log server on loopback: a request that does not decode is the
//! caller's fault, named.

mod common;

use common::Server;
use maestro_testkit::raw_grpc;
use tonic::Code;

#[tokio::test]
async fn a_request_that_does_not_decode_is_invalid_argument_naming_the_field() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path()).await;
    let url = format!("http://{}", server.addr);
    let push = "/maestro.logs.v1.LogService/Push";
    // PushRequest.records (field 1) holding Record.domain (field 2) = 0xff: not UTF-8.
    let e = raw_grpc::unary(&url, push, vec![0x0a, 0x03, 0x12, 0x01, 0xff])
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message()
            .starts_with("malformed request: PushRequest.records.domain: ")
            && e.message().contains("UTF-8"),
        "{}",
        e.message()
    );
    // A record that claims 100 bytes; 1 follows.
    let e = raw_grpc::unary(&url, push, vec![0x0a, 0x64, 0x08])
        .await
        .unwrap()
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{e:?}");
    assert!(
        e.message().starts_with("malformed request: PushRequest"),
        "{}",
        e.message()
    );
    server.stop().await;
}
