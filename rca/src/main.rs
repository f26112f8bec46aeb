use clap::Parser;

fn main() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("RCA_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let cli = rca::cli::Cli::parse();
    if let Err(e) = rca::cli::run(cli) {
        eprintln!("rca: {e}");
        std::process::exit(e.exit_code());
    }
}
