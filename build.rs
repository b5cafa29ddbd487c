//! Rebuilds when a migration is added or changed: `sqlx::migrate!` embeds the `migrations/` directory at compile
//! time, and Cargo would not otherwise know that the crate depends on it.
fn main() {
    println!("cargo:rerun-if-changed=migrations");
}
