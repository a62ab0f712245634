//! The manifest snippets of the README are valid and say the same thing in TOML and KDL.

use falconer::manifest::{Format, LoadOptions, load_str};

fn block(readme: &str, lang: &str) -> String {
    let start = readme.find(&format!("```{lang}\n")).expect("a code block") + lang.len() + 4;
    let end = start + readme[start..].find("```").expect("its end");
    readme[start..end].to_string()
}

#[test]
fn readme_snippets_are_valid_and_equal() {
    let readme = std::fs::read_to_string("README.md").expect("README");
    let mut specs = Vec::new();
    for (lang, format) in [("toml", Format::Toml), ("kdl", Format::Kdl)] {
        let loaded = load_str(
            &format!("README.{lang}"),
            &block(&readme, lang),
            format,
            LoadOptions {
                strict: true,
                ..Default::default()
            },
        );
        assert!(loaded.issues.is_empty(), "{lang}: {}", loaded.messages());
        let m = loaded.manifest.expect("manifest");
        specs.push((
            m.tenant,
            m.resources.into_iter().map(|r| r.spec).collect::<Vec<_>>(),
        ));
    }
    assert_eq!(specs[0], specs[1]);
}
