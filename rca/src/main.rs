use clap::Parser;

fn main() {
    let cli = rca::cli::Cli::parse();
    // `rca serve` sets up its own tracing (it may export spans by OTLP).
    if !matches!(cli.command, rca::cli::Command::Serve(_)) {
        init_logging();
    }
    if let Err(e) = rca::cli::run(cli) {
        eprintln!("rca: {e}");
        std::process::exit(e.exit_code());
    }
}

fn init_logging() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RCA_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}
