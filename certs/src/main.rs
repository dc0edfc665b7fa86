//! `orkestra-certs --out DIR --dns-name NAME… [--ip IP…] [--days N] [--force]`.

use clap::Parser as _;
use orkestra_certs::{Args, run};

fn main() -> anyhow::Result<()> {
    run(Args::parse())?;
    Ok(())
}
