//! The fixed vocabulary of the demo data: towns, sectors (IDCC with their NAF activities),
//! collège structures, name parts. Weights follow the real published file where it says
//! something (IDCC and collège mixes are its frequencies, in tenths of a percent).

/// A town with its postal code and département.
pub(super) struct Town {
    pub(super) name: &'static str,
    pub(super) cp: &'static str,
    pub(super) departement: &'static str,
    pub(super) weight: u32,
}

const fn town(
    name: &'static str,
    cp: &'static str,
    departement: &'static str,
    weight: u32,
) -> Town {
    Town {
        name,
        cp,
        departement,
        weight,
    }
}

pub(super) const TOWNS: &[Town] = &[
    town("PARIS", "75011", "75", 40),
    town("PARIS", "75015", "75", 40),
    town("PARIS", "75008", "75", 30),
    town("NANTERRE", "92000", "92", 12),
    town("BOULOGNE-BILLANCOURT", "92100", "92", 12),
    town("SAINT-DENIS", "93200", "93", 12),
    town("CRETEIL", "94000", "94", 10),
    town("ARGENTEUIL", "95100", "95", 8),
    town("EVRY-COURCOURONNES", "91000", "91", 8),
    town("VERSAILLES", "78000", "78", 8),
    town("MELUN", "77000", "77", 7),
    town("LILLE", "59000", "59", 20),
    town("ROUBAIX", "59100", "59", 9),
    town("TOURCOING", "59200", "59", 8),
    town("DUNKERQUE", "59140", "59", 8),
    town("VALENCIENNES", "59300", "59", 7),
    town("LYON", "69003", "69", 22),
    town("VILLEURBANNE", "69100", "69", 9),
    town("VENISSIEUX", "69200", "69", 7),
    town("MARSEILLE 01", "13001", "13", 12),
    town("MARSEILLE 15", "13015", "13", 10),
    town("AIX-EN-PROVENCE", "13100", "13", 9),
    town("VITROLLES", "13127", "13", 6),
    town("NANTES", "44000", "44", 14),
    town("SAINT-NAZAIRE", "44600", "44", 7),
    town("BORDEAUX", "33000", "33", 13),
    town("MERIGNAC", "33700", "33", 7),
    town("TOULOUSE", "31000", "31", 15),
    town("BLAGNAC", "31700", "31", 6),
    town("NICE", "06000", "06", 10),
    town("CANNES", "06400", "06", 5),
    town("STRASBOURG", "67000", "67", 11),
    town("MULHOUSE", "68100", "68", 6),
    town("RENNES", "35000", "35", 10),
    town("BREST", "29200", "29", 6),
    town("QUIMPER", "29000", "29", 4),
    town("MONTPELLIER", "34000", "34", 9),
    town("NIMES", "30000", "30", 5),
    town("GRENOBLE", "38000", "38", 9),
    town("SAINT-ETIENNE", "42000", "42", 7),
    town("CLERMONT-FERRAND", "63000", "63", 7),
    town("DIJON", "21000", "21", 6),
    town("BESANCON", "25000", "25", 5),
    town("METZ", "57000", "57", 7),
    town("NANCY", "54000", "54", 6),
    town("REIMS", "51100", "51", 6),
    town("TROYES", "10000", "10", 4),
    town("ROUEN", "76000", "76", 7),
    town("LE HAVRE", "76600", "76", 6),
    town("CAEN", "14000", "14", 6),
    town("LE MANS", "72000", "72", 5),
    town("ANGERS", "49000", "49", 6),
    town("TOURS", "37000", "37", 6),
    town("ORLEANS", "45000", "45", 6),
    town("LIMOGES", "87000", "87", 5),
    town("POITIERS", "86000", "86", 4),
    town("AMIENS", "80000", "80", 5),
    town("BOURG-EN-BRESSE", "01000", "01", 4),
    town("SAINT-VULBAS", "01150", "01", 1),
    town("OYONNAX", "01100", "01", 3),
    town("ANNECY", "74000", "74", 5),
    town("CHAMBERY", "73000", "73", 4),
    town("VALENCE", "26000", "26", 4),
    town("AVIGNON", "84000", "84", 4),
    town("TOULON", "83000", "83", 6),
    town("PERPIGNAN", "66000", "66", 4),
    town("PAU", "64000", "64", 4),
    town("BAYONNE", "64100", "64", 3),
    town("RODEZ", "12000", "12", 2),
    town("MILLAU", "12100", "12", 1),
    town("CAPDENAC-GARE", "12700", "12", 1),
    town("CHARLEVILLE-MEZIERES", "08000", "08", 2),
    town("SEDAN", "08200", "08", 1),
    town("AJACCIO", "20000", "2A", 2),
    town("BASTIA", "20200", "2B", 2),
    town("MONTLUCON", "03100", "03", 2),
    town("AUXERRE", "89000", "89", 2),
    town("NEVERS", "58000", "58", 2),
    town("AUCH", "32000", "32", 1),
    town("CAHORS", "46000", "46", 1),
    town("GAP", "05000", "05", 1),
    town("FOIX", "09000", "09", 1),
    town("MENDE", "48000", "48", 1),
    town("AURILLAC", "15000", "15", 1),
    town("POINTE-A-PITRE", "97110", "971", 2),
    town("SAINT-DENIS", "97400", "974", 3),
];

/// A branch: its collective agreement (IDCC, empty for establishments without one), the NAF
/// activities of its companies, and words for their names.
pub(super) struct Sector {
    pub(super) idcc: &'static str,
    pub(super) weight: u32,
    pub(super) activities: &'static [(&'static str, &'static str)],
    pub(super) words: &'static [&'static str],
}

const fn sector(
    idcc: &'static str,
    weight: u32,
    activities: &'static [(&'static str, &'static str)],
    words: &'static [&'static str],
) -> Sector {
    Sector {
        idcc,
        weight,
        activities,
        words,
    }
}

pub(super) const SECTORS: &[Sector] = &[
    sector(
        "3248",
        140,
        &[
            ("2562B", "Mécanique industrielle"),
            (
                "2511Z",
                "Fabrication de structures métalliques et de parties de structures",
            ),
            ("2910Z", "Construction de véhicules automobiles"),
            ("3030Z", "Construction aéronautique et spatiale"),
        ],
        &[
            "MECANIQUE",
            "FONDERIE",
            "CHAUDRONNERIE",
            "USINAGE",
            "INDUSTRIES",
            "METALLURGIE",
        ],
    ),
    sector(
        "0016",
        58,
        &[
            ("4941A", "Transports routiers de fret interurbains"),
            ("5210B", "Entreposage et stockage non frigorifique"),
        ],
        &["TRANSPORTS", "LOGISTIQUE", "EXPRESS", "FRET"],
    ),
    sector(
        "2216",
        50,
        &[("4711D", "Supermarchés"), ("4711F", "Hypermarchés")],
        &["SUPERMARCHE", "DISTRIBUTION", "HYPER", "MARCHE"],
    ),
    sector(
        "0413",
        48,
        &[
            ("8810C", "Aide par le travail"),
            ("8899B", "Action sociale sans hébergement n.c.a."),
        ],
        &["ESAT", "ASSOCIATION", "FOYER", "IME", "ADAPEI"],
    ),
    sector(
        "0029",
        37,
        &[("8610Z", "Activités hospitalières")],
        &["HOPITAL PRIVE", "CENTRE DE SOINS", "FONDATION"],
    ),
    sector(
        "3218",
        32,
        &[("8531Z", "Enseignement secondaire général")],
        &["OGEC", "LYCEE PRIVE", "COLLEGE PRIVE", "INSTITUTION"],
    ),
    sector(
        "0044",
        28,
        &[(
            "2014Z",
            "Fabrication d'autres produits chimiques organiques de base",
        )],
        &["CHIMIE", "SYNTHESE", "POLYMERES"],
    ),
    sector(
        "2264",
        27,
        &[
            ("8710A", "Hébergement médicalisé pour personnes âgées"),
            ("8610Z", "Activités hospitalières"),
        ],
        &["EHPAD", "CLINIQUE", "RESIDENCE"],
    ),
    sector(
        "1486",
        25,
        &[("7112B", "Ingénierie, études techniques")],
        &["INGENIERIE", "CONSEIL", "ETUDES", "SYSTEMES"],
    ),
    sector(
        "0292",
        18,
        &[(
            "2229A",
            "Fabrication de pièces techniques à base de matières plastiques",
        )],
        &["PLASTURGIE", "PLASTIQUES", "INJECTION"],
    ),
    sector(
        "0573",
        17,
        &[(
            "4690Z",
            "Commerce de gros (commerce interentreprises) non spécialisé",
        )],
        &["NEGOCE", "DISTRIBUTION", "COMPTOIR"],
    ),
    sector(
        "3043",
        16,
        &[("8121Z", "Nettoyage courant des bâtiments")],
        &["PROPRETE", "NETTOYAGE", "SERVICES"],
    ),
    sector(
        "2941",
        14,
        &[("8810A", "Aide à domicile")],
        &["AIDE A DOMICILE", "ADMR", "SERVICES A LA PERSONNE"],
    ),
    sector(
        "1090",
        13,
        &[(
            "4520A",
            "Entretien et réparation de véhicules automobiles légers",
        )],
        &["AUTOMOBILES", "GARAGE", "AUTO"],
    ),
    sector(
        "0176",
        10,
        &[("2120Z", "Fabrication de préparations pharmaceutiques")],
        &["LABORATOIRES", "PHARMA"],
    ),
    sector(
        "1597",
        10,
        &[
            (
                "4321A",
                "Travaux d'installation électrique dans tous locaux",
            ),
            ("4120A", "Construction de maisons individuelles"),
        ],
        &["BATIMENT", "CONSTRUCTIONS", "ELECTRICITE"],
    ),
    sector(
        "0112",
        8,
        &[("1051A", "Fabrication de lait liquide et de produits frais")],
        &["LAITERIE", "FROMAGERIE", "LAITIERE"],
    ),
    sector(
        "1424",
        7,
        &[("4931Z", "Transports urbains et suburbains de voyageurs")],
        &["TRANSPORTS URBAINS", "MOBILITE", "RESEAU"],
    ),
    sector(
        "1979",
        7,
        &[("5610A", "Restauration traditionnelle")],
        &["HOTEL", "BRASSERIE", "RESTAURANT"],
    ),
    sector(
        "1266",
        6,
        &[("5629A", "Restauration collective sous contrat")],
        &["RESTAURATION", "CUISINE CENTRALE"],
    ),
    sector(
        "2098",
        6,
        &[("8220Z", "Activités de centres d'appels")],
        &["CONTACT", "RELATION CLIENT", "TELESERVICES"],
    ),
    sector(
        "1351",
        6,
        &[("8010Z", "Activités de sécurité privée")],
        &["SECURITE", "PROTECTION", "GARDIENNAGE"],
    ),
    sector(
        "2120",
        5,
        &[("6419Z", "Autres intermédiations monétaires")],
        &["BANQUE", "CREDIT", "CAISSE"],
    ),
    sector(
        "1501",
        5,
        &[("5610C", "Restauration de type rapide")],
        &["RESTAURATION RAPIDE", "SNACK"],
    ),
    sector(
        "1516",
        4,
        &[("8559A", "Formation continue d'adultes")],
        &["FORMATION", "INSTITUT"],
    ),
    sector(
        "2378",
        4,
        &[("7830Z", "Autre mise à disposition de ressources humaines")],
        &["INTERIM", "EMPLOI", "TRAVAIL TEMPORAIRE"],
    ),
    sector(
        "1996",
        3,
        &[(
            "4773Z",
            "Commerce de détail de produits pharmaceutiques en magasin spécialisé",
        )],
        &["PHARMACIE"],
    ),
    sector(
        "",
        24,
        &[(
            "8412Z",
            "Administration publique (tutelle) de la santé, de la formation, de la culture et des services sociaux, autre que sécurité sociale",
        )],
        &["OFFICE PUBLIC", "REGIE", "SYNDICAT MIXTE"],
    ),
];

/// La Poste's sector: its establishments are few, large, and split in many collège rows.
pub(super) const LA_POSTE_SECTOR: Sector = sector(
    "5516",
    0,
    &[(
        "5310Z",
        "Activités de poste dans le cadre d'une obligation de service universel",
    )],
    &["LA POSTE"],
);

/// The collège rows of one election (one per PV × collège; a code may repeat: several PVs of
/// one collège on one day), with the headcount of a typical establishment so organised.
pub(super) struct Structure {
    pub(super) colleges: &'static [&'static str],
    pub(super) weight: u32,
    pub(super) median_headcount: f64,
}

const fn structure(
    colleges: &'static [&'static str],
    weight: u32,
    median_headcount: f64,
) -> Structure {
    Structure {
        colleges,
        weight,
        median_headcount,
    }
}

pub(super) const STRUCTURES: &[Structure] = &[
    structure(&["01", "02"], 3510, 75.0),
    structure(&["05"], 2390, 32.0),
    structure(&["01"], 1420, 60.0),
    structure(&["01", "02", "03"], 1350, 230.0),
    structure(&["02"], 430, 40.0),
    structure(&["02", "03"], 180, 90.0),
    structure(&["01", "03"], 150, 90.0),
    structure(&["03", "04"], 115, 110.0),
    structure(&["03"], 95, 45.0),
    structure(&["04"], 85, 50.0),
    structure(&["04", "04"], 80, 90.0),
    structure(&["01", "04"], 50, 90.0),
    structure(&["01", "03", "04"], 27, 250.0),
    structure(&["02", "04"], 17, 90.0),
    structure(&["04", "04", "04"], 13, 150.0),
    structure(&["01", "02", "03", "04"], 12, 600.0),
    structure(&["01", "01", "02", "02", "03"], 6, 900.0),
    structure(&["01", "02", "02", "03", "03", "04"], 4, 1500.0),
    structure(
        &["01", "01", "02", "02", "03", "03", "04", "04", "04"],
        2,
        3000.0,
    ),
];

/// La Poste's establishments: several PVs per collège on one day.
pub(super) const LA_POSTE_STRUCTURE: Structure = structure(
    &["01", "01", "01", "02", "02", "02", "03", "03", "04"],
    0,
    3500.0,
);

/// Unions in [`crate::domain::UNIONS`] order, with how often they stand (their share of rows in
/// the real file: CGT on 38 %, CFDT on 48 % …), as sampling weights.
pub(super) const UNION_WEIGHTS: [f64; 8] = [0.36, 0.48, 0.27, 0.17, 0.17, 0.07, 0.05, 0.04];

/// A union's typical strength where it stands (relative).
pub(super) const UNION_STRENGTH: [f64; 8] = [1.0, 1.1, 0.9, 0.7, 0.8, 0.7, 0.8, 0.8];

pub(super) const SURNAMES: &[&str] = &[
    "MARTIN",
    "BERNARD",
    "THOMAS",
    "PETIT",
    "ROBERT",
    "RICHARD",
    "DURAND",
    "DUBOIS",
    "MOREAU",
    "LAURENT",
    "SIMON",
    "MICHEL",
    "LEFEBVRE",
    "LEROY",
    "ROUX",
    "DAVID",
    "BERTRAND",
    "MOREL",
    "FOURNIER",
    "GIRARD",
    "BONNET",
    "DUPONT",
    "LAMBERT",
    "FONTAINE",
    "ROUSSEAU",
    "VINCENT",
    "MULLER",
    "LEFEVRE",
    "FAURE",
    "ANDRE",
    "MERCIER",
    "BLANC",
    "GUERIN",
    "BOYER",
    "GARNIER",
    "CHEVALIER",
    "FRANCOIS",
    "LEGRAND",
    "GAUTHIER",
    "GARCIA",
    "PERRIN",
    "ROBIN",
    "CLEMENT",
    "MORIN",
    "NICOLAS",
    "HENRY",
    "ROUSSEL",
    "MATHIEU",
    "GAUTIER",
    "MASSON",
];

pub(super) const PLACES: &[&str] = &[
    "SAINT JOSEPH",
    "LES TILLEULS",
    "DU LAC",
    "DES ALPES",
    "DU MIDI",
    "DE L'OUEST",
    "DU RHONE",
    "LES GLYCINES",
    "SAINTE MARIE",
    "DU VAL DE LOIRE",
    "DES PINS",
    "LA ROSERAIE",
    "DU PARC",
    "DE LA VALLEE",
    "ATLANTIQUE",
    "MEDITERRANEE",
    "DU NORD",
    "DE PROVENCE",
    "LES CEDRES",
    "NOTRE DAME",
];

pub(super) const LEGAL_FORMS: &[&str] = &["SAS", "SA", "SARL", "SASU", "SCOP", "SNC"];

pub(super) const STREET_KINDS: &[&str] = &[
    "rue",
    "avenue",
    "boulevard",
    "chemin",
    "route",
    "place",
    "allée",
    "impasse",
    "zone industrielle",
];

pub(super) const STREET_NAMES: &[&str] = &[
    "de la République",
    "Victor Hugo",
    "Jean Jaurès",
    "de la Gare",
    "du Général de Gaulle",
    "Pasteur",
    "des Lilas",
    "de l'Industrie",
    "Gambetta",
    "de Paris",
    "Émile Zola",
    "des Acacias",
    "du Moulin",
    "Jean Moulin",
    "de la Liberté",
    "des Écoles",
    "Voltaire",
    "du Stade",
    "des Artisans",
    "de Verdun",
];

/// Where the union learned of the invitation (the upstream template's `Source`).
pub(super) const SOURCES: &[(&str, u32)] = &[
    ("Mail UD", 45),
    ("RED", 25),
    ("Courrier", 20),
    ("Mail FD", 10),
];

/// INSEE headcount bands, as the upstream template writes them: (upper bound, label).
pub(super) const HEADCOUNT_BANDS: &[(u32, &str)] = &[
    (19, "10 à 19 salariés"),
    (49, "20 à 49 salariés"),
    (99, "50 à 99 salariés"),
    (199, "100 à 199 salariés"),
    (249, "200 à 249 salariés"),
    (499, "250 à 499 salariés"),
    (999, "500 à 999 salariés"),
    (1_999, "1 000 à 1 999 salariés"),
    (4_999, "2 000 à 4 999 salariés"),
    (9_999, "5 000 à 9 999 salariés"),
    (u32::MAX, "10 000 salariés et plus"),
];
