//! Several nodes on one database: what each node must share with the others.

mod common;

use common::*;

/// A node whose master key is not the one the stored credentials were encrypted with refuses to start and says
/// what to do; given the first node's key, it starts.
#[tokio::test]
async fn a_node_with_another_master_key_refuses_to_start_and_names_the_remedy() {
    let first = spawn_app().await;
    first.create_channel().await;

    // A second node on the same database with its own data directory: it generates its own key.
    let other_dir = tempfile::tempdir().unwrap();
    let mut settings = first.settings.clone();
    settings.data_dir = other_dir.path().to_path_buf();
    settings.http.bind.set_port(0);
    let refused = match switchboard::Application::build(settings.clone()).await {
        Ok(_) => panic!("a node with another master key started"),
        Err(e) => format!("{e:#}"),
    };
    assert!(refused.contains("master key cannot decrypt"), "{refused}");
    assert!(refused.contains("SWITCHBOARD__SECRETS__MASTER_KEY"), "{refused}");

    // The same node given the first node's key starts.
    let key = std::fs::read_to_string(first.data_dir.path().join(switchboard::secrets::KEY_FILE)).unwrap();
    settings.secrets.master_key = Some(key.trim().to_owned().into());
    let second = switchboard::Application::build(settings).await.expect("a node with the shared key starts");
    drop(second);
    first.stop().await;
}

/// Nodes starting together on an empty database migrate it once: the migrator holds an advisory lock, so the
/// others wait and find the migrations applied.
#[tokio::test]
async fn nodes_starting_together_apply_each_migration_once() {
    let (settings, _dir) = test_settings(|_| {}).await;
    let dirs: Vec<tempfile::TempDir> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    use base64::Engine as _;
    let key = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
    let builds = dirs.iter().map(|dir| {
        let mut s = settings.clone();
        s.data_dir = dir.path().to_path_buf();
        s.secrets.master_key = Some(key.clone().into());
        switchboard::Application::build(s)
    });
    let nodes = futures_util::future::join_all(builds).await;
    // Without the lock, the nodes racing through the same migrations fail (a relation that already exists, a
    // duplicate version): every node must start.
    for node in &nodes {
        if let Err(e) = node {
            panic!("a node starting beside others failed: {e:#}");
        }
    }
    let pool = nodes[0].as_ref().unwrap().state().pool.clone();
    let applied: i64 =
        sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success").fetch_one(&pool).await.unwrap();
    let expected = std::fs::read_dir(manifest_dir().join("migrations")).unwrap().count() as i64;
    assert_eq!(applied, expected, "every migration applied");
}
