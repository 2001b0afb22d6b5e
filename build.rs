//! Compiles the wire messages in `proto/` with protox, a pure-Rust protobuf compiler, so
//! building muster needs no system `protoc`.

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = ["proto/muster/v1/attendance.proto", "proto/muster/v1/applogs.proto"];
    println!("cargo:rerun-if-changed=proto");
    // `sqlx::migrate!` embeds the migration files it found; on stable Rust it cannot ask to be
    // re-run when a new one is added, so a new migration would be left out of the build.
    println!("cargo:rerun-if-changed=migrations");
    let descriptors = protox::compile(files, ["proto"])?;
    prost_build::Config::new().compile_fds(descriptors)?;
    Ok(())
}
