//! PAP invitations in the upstream template's layout.

use relais_elections::store::invitations_of;

use crate::support::*;

const TEMPLATE: &str = "SIRET,Date invitation,Raison sociale,Enseigne,Adresse,Ville,Code Postal,Source,Activité principale,Libellé activité,Effectifs,Actif,Siège\n";

pub(crate) async fn invitations_import_by_siret_and_date(ctx: Ctx) {
    let env = env(&ctx).await;
    let csv = format!(
        "{TEMPLATE}\
34329419500239,15/01/2025,ETS LACTALIS LOGISTIQUE,LACTALIS,1 rue du Lait,SAINT-VULBAS,1150,site syndical,52.10B,Entreposage,100 à 199,Oui,Non
34329419500239,2025-06-01,ETS LACTALIS LOGISTIQUE,,,,,,,,,,
00638004200033,20250310,LABORATOIRE NUTERGIA,,,CAPDENAC-GARE,12700,,,,50,true,peut-être
34329419500238,2025-01-15,MAUVAIS SIRET,,,,,,,,,,
42738003500027,,ROZIERE,,,,,,,,,,
"
    );
    let r = env
        .import(
            "elections.invitations",
            "invitations.csv",
            csv.as_bytes(),
            |_| {},
        )
        .await;
    assert_eq!(r.status, ImportStatus::Partial, "{r:#?}");
    assert_eq!(
        (r.counts.read, r.counts.inserted, r.counts.rejected),
        (5, 3, 2)
    );
    let issues: Vec<(u64, String, String)> = env
        .issues(r.id)
        .await
        .into_iter()
        .map(|i| (i.row, i.column, i.message))
        .collect();
    let i = |row: u64, column: &str, message: &str| (row, column.to_owned(), message.to_owned());
    assert_eq!(
        issues,
        vec![
            i(
                4,
                "siege",
                "not yes or no (expected oui/non, true/false or 1/0): left empty"
            ),
            i(5, "siret", "34329419500238 fails the SIRET check digit"),
            i(6, "date_invitation", "required"),
        ]
    );
    let sirets = [
        Siret::parse("34329419500239").unwrap(),
        Siret::parse("00638004200033").unwrap(),
    ];
    let stored = invitations_of(env.db(), &sirets).await.unwrap();
    let first = &stored[1].invitation;
    assert_eq!(first.siret.as_str(), "34329419500239");
    assert_eq!(Some(first.date), date(2025, 1, 15));
    assert_eq!(first.enseigne.as_deref(), Some("LACTALIS"));
    assert_eq!(first.code_postal.as_deref(), Some("01150"));
    assert_eq!(first.naf.as_deref(), Some("52.10B"));
    assert_eq!(first.effectifs.as_deref(), Some("100 à 199"));
    assert_eq!((first.actif, first.siege), (Some(true), Some(false)));
    assert_eq!(Some(stored[2].invitation.date), date(2025, 6, 1));
    let nutergia = &stored[0].invitation;
    assert_eq!(Some(nutergia.date), date(2025, 3, 10));
    assert_eq!((nutergia.actif, nutergia.siege), (Some(true), None));
    let mut dirty = env.dirty().await;
    dirty.sort();
    assert_eq!(dirty, vec!["00638004200033", "34329419500239"]);

    // Again: unchanged; with one field changed: updated in place.
    let again = env
        .import("elections.invitations", "again.csv", csv.as_bytes(), |_| {})
        .await;
    assert_eq!((again.counts.inserted, again.counts.unchanged), (0, 3));
    let changed = csv.replace("site syndical", "inspection du travail");
    let r = env
        .import(
            "elections.invitations",
            "changed.csv",
            changed.as_bytes(),
            |_| {},
        )
        .await;
    assert_eq!(
        (r.counts.inserted, r.counts.updated, r.counts.unchanged),
        (0, 1, 2)
    );
    let stored = invitations_of(env.db(), &sirets[..1]).await.unwrap();
    assert_eq!(
        stored[0].invitation.source.as_deref(),
        Some("inspection du travail")
    );
    assert_eq!(stored[0].import_id, r.id);
    env.stop().await;
}
