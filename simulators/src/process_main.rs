//! What a `sim` process does around its command: its log on stderr at a
//! default level (`RUST_LOG` overrides it), a multi-thread runtime, and the
//! command's error printed and turned into the exit status. Shared by `sim` and
//! the tests' `sim-node` (one cluster node), so both run a node alike.

use std::future::Future;
use std::process::ExitCode;

/// Run `command` as process `name` logging at `default_level`.
pub fn run(
    name: &str,
    default_level: &str,
    command: impl Future<Output = Result<(), String>>,
) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_level)),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{name}: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(command) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{name}: {e}");
            ExitCode::FAILURE
        }
    }
}
