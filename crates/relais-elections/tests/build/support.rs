//! The environment of a build case: a platform migrated with the app's schema on the case's
//! database.

pub(crate) use relais_elections::store::StoredSummary;
pub(crate) use relais_platform::Platform;
pub(crate) use relais_platform::config::Config;
pub(crate) use relais_platform::store::Db;
pub(crate) use relais_testkit::Ctx;

pub(crate) struct Env {
    pub platform: Platform,
}

pub(crate) async fn env(ctx: &Ctx) -> Env {
    let config = Config::for_data_dir(&ctx.dir).with_database(ctx.database.clone());
    let (platform, _) = Platform::start(config, &[relais_elections::MIGRATIONS])
        .await
        .expect("platform starts");
    Env { platform }
}

impl Env {
    pub(crate) async fn stop(self) {
        self.platform.store.close().await;
    }

    pub(crate) fn db(&self) -> &Db {
        self.platform.store.db()
    }

    /// Writes summaries in one transaction.
    pub(crate) async fn write(&self, summaries: &[StoredSummary], generation: i64) {
        let mut tx = self.platform.store.begin().await.unwrap();
        relais_elections::store::write_summaries(&mut tx, summaries, generation)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }

    pub(crate) async fn summary(&self, siret: &str) -> Option<StoredSummary> {
        let siret = relais_elections::domain::Siret::parse(siret).unwrap();
        relais_elections::store::summary_of(self.db(), &siret)
            .await
            .unwrap()
    }

    /// Every summary, read in pages of `page`.
    pub(crate) async fn all_summaries(&self, page: u32) -> Vec<StoredSummary> {
        let mut out: Vec<StoredSummary> = Vec::new();
        loop {
            let after = out.last().map(|s| s.siret);
            let next = relais_elections::store::summaries_after(self.db(), after.as_ref(), page)
                .await
                .unwrap();
            if next.is_empty() {
                return out;
            }
            out.extend(next);
        }
    }
}
