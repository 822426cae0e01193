//! Embeds migrations/NNNN_name.{up,down,verify}.sql into the binary.
use std::{env, fs, path::Path};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../migrations");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut ups: Vec<(u32, String, String)> = Vec::new();
    for entry in fs::read_dir(&dir).expect("migrations/ exists") {
        let path = entry.expect("readable").path();
        println!("cargo:rerun-if-changed={}", path.display());
        let file = path.file_name().unwrap().to_string_lossy().to_string();
        if let Some(stem) = file.strip_suffix(".up.sql") {
            let (version, name) = stem.split_once('_').expect("NNNN_name.up.sql");
            let version: u32 = version.parse().expect("numeric version");
            ups.push((version, name.to_string(), stem.to_string()));
        }
    }
    ups.sort();
    for pair in ups.windows(2) {
        assert!(pair[0].0 != pair[1].0, "two migrations share version {}", pair[0].0);
    }
    let mut out = String::from("pub static MIGRATIONS: &[Migration] = &[\n");
    for (version, name, stem) in &ups {
        let file = |kind: &str| dir.join(format!("{stem}.{kind}.sql"));
        assert!(file("down").exists(), "{stem} has no .down.sql");
        let verify = if file("verify").exists() {
            format!("Some(include_str!({:?}))", file("verify").canonicalize().unwrap())
        } else {
            "None".to_string()
        };
        out.push_str(&format!(
            "    Migration {{ version: {version}, name: {name:?}, file: {file:?}, up: include_str!({up:?}), down: include_str!({down:?}), verify: {verify} }},\n",
            file = format!("{stem}.up.sql"),
            up = file("up").canonicalize().unwrap(),
            down = file("down").canonicalize().unwrap(),
        ));
    }
    out.push_str("];\n");
    fs::write(Path::new(&env::var("OUT_DIR").unwrap()).join("migrations.rs"), out).unwrap();
}
