//! One root cancellation token per process, cancelled by SIGINT/SIGTERM.

use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio_util::sync::CancellationToken;

/// Returns a token cancelled on the first SIGINT or SIGTERM; a second signal exits at once
/// with status 130. The handlers are in place when this returns, so a signal sent right after
/// (e.g. as soon as the process announced it serves) is never lost to the default action.
pub fn on_signals() -> CancellationToken {
    let token = CancellationToken::new();
    let t = token.clone();
    let installed = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    );
    tokio::spawn(async move {
        let (Ok(mut term), Ok(mut int)) = installed else {
            tracing::warn!("signal handlers could not be installed");
            return;
        };
        next(&mut term, &mut int).await;
        tracing::info!("shutdown requested; draining (signal again to force)");
        t.cancel();
        next(&mut term, &mut int).await;
        tracing::warn!("second signal; exiting now");
        std::process::exit(130);
    });
    token
}

async fn next(term: &mut Signal, int: &mut Signal) {
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}
