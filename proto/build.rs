//! Compiles `maestro/**/*.proto` without protoc: protox builds the descriptor set, which is
//! written to OUT_DIR for reflection and fed to tonic-prost-build.
use prost::Message;

const PROTOS: &[&str] = &[
    "maestro/order/v1/order.proto",
    "maestro/catalog/v1/catalog.proto",
    "maestro/domain/v1/domain.proto",
    "maestro/intent/v1/intent.proto",
    "maestro/logs/v1/logs.proto",
    "maestro/status/v1/status.proto",
    "maestro/audit/v1/audit.proto",
];

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=maestro");
    let fds = protox::compile(PROTOS, ["."])?;
    let out = std::path::PathBuf::from(std::env::var("OUT_DIR")?);
    std::fs::write(out.join("maestro_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure()
        .build_client(true)
        .build_server(true)
        .compile_fds(fds)?;
    Ok(())
}
