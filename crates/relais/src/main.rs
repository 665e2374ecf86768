//! `relais`: the command-line entry point. Parses arguments, loads the configuration, and hands
//! over to [`relais::Application`] or a maintenance command.

use std::process::ExitCode;

use clap::Parser;
use relais::cli::{Cli, Command, ConfigCommand};

/// mimalloc: the engine's hot paths (sqlx rows, task records, events) allocate many small
/// objects across threads; glibc's allocator spent a fifth of the SQLite drain in malloc/free.
/// Built with `no_thp`: mimalloc otherwise asks for transparent huge pages on its arenas, and
/// on kernels that grant them on request each touched region costs 2 MiB of resident memory
/// (a 126k-row summary build peaked at 211 MiB, against 147 MiB without).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Version = cli.command {
        print!("{}", relais::version_text());
        return ExitCode::SUCCESS;
    }
    if let Command::Demo { what } = cli.command {
        // Files only: no configuration, database or runtime involved.
        return match relais::demo::run(what) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("relais: {e:#}");
                ExitCode::FAILURE
            }
        };
    }
    let config = match cli.load_config() {
        Ok(config) => config,
        Err(e) => {
            eprintln!("relais: configuration error: {e}");
            return ExitCode::from(2);
        }
    };
    if let Command::Config {
        command: ConfigCommand::Show,
    } = cli.command
    {
        print!("{}", config.show());
        return ExitCode::SUCCESS;
    }
    if let Err(e) = relais::logging::init(&config) {
        eprintln!("relais: configuration error: {e}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("relais: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Serve => relais::Application::build(config).await?.run().await,
            Command::Migrate { status } => relais::migrate(config, status).await,
            Command::Bench { what } => relais::bench::run(config, what).await,
            Command::Token { command } => relais::token(config, command).await,
            Command::Import(args) => relais::import_cmd::import(config, args).await,
            Command::Elections { command } => relais::elections_cmd::run(config, command).await,
            Command::Audit { command } => relais::audit(config, command).await,
            Command::Version | Command::Config { .. } | Command::Demo { .. } => Ok(()),
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) if e.is::<relais::ChainBroken>() => {
            eprintln!("relais: {e:#}");
            ExitCode::from(3)
        }
        Err(e) => {
            tracing::error!(error = %format_args!("{e:#}"), "relais stopped on an error");
            eprintln!("relais: {e:#}");
            ExitCode::FAILURE
        }
    }
}
