//! Directories the server makes under its data directory: `0700`, so that what it keeps there (the local file
//! store's media and uploads, the master key) is reachable by the server's user alone.

use std::path::Path;

/// Creates `dir` and its missing parents, each `0700`.
pub async fn private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = tokio::fs::DirBuilder::new();
    builder.recursive(true).mode(0o700);
    builder.create(dir).await
}

/// The data directory itself, at start-up: `0700`, or `0711` when `traversable` (the embedded cluster runs as
/// the `postgres` user when the server runs as root, and must reach its own directory inside; others can then
/// enter but not list it, and everything in it stays `0700`/`0600`).
pub fn data_dir(dir: &Path, traversable: bool) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(if traversable { 0o711 } else { 0o700 }).create(dir)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[tokio::test]
    async fn directories_are_the_servers_alone() {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("media/ab");
        super::private_dir(&dir).await.unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&root.path().join("media")), 0o700);
        assert_eq!(mode(&dir), 0o700);
    }
}
