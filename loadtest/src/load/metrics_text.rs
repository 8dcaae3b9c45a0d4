//! The Prometheus text format, as far as relais-load reads it: one sample
//! per line, `name{label="value",...} number`, comments skipped.

/// One sample line of a `/metrics` text.
#[derive(Debug, Clone, Copy)]
pub struct Sample<'a> {
    pub name: &'a str,
    /// What is between the braces (empty without labels).
    labels: &'a str,
    pub value: f64,
}

impl<'a> Sample<'a> {
    /// The value of one label, unquoted.
    pub fn label(&self, key: &str) -> Option<&'a str> {
        self.labels.split(',').find_map(|kv| {
            let (k, v) = kv.split_once('=')?;
            (k.trim() == key).then(|| v.trim().trim_matches('"'))
        })
    }
}

/// Every sample of a `/metrics` text; lines that are not samples are skipped.
pub fn samples(text: &str) -> impl Iterator<Item = Sample<'_>> {
    text.lines().filter_map(|line| {
        if line.starts_with('#') {
            return None;
        }
        let (series, value) = line.trim().rsplit_once(' ')?;
        let value = value.trim().parse::<f64>().ok()?;
        let (name, labels) = match series.split_once('{') {
            Some((name, rest)) => (name, rest.trim_end().trim_end_matches('}')),
            None => (series, ""),
        };
        Some(Sample {
            name: name.trim(),
            labels,
            value,
        })
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_with_and_without_labels() {
        let text = "# HELP x y\n# TYPE x counter\nplain 3\nwith{a=\"1\",le=\"+Inf\"} 2.5\n\nbroken\nnan_value{a=\"1\"} abc\n";
        let s: Vec<_> = samples(text).collect();
        assert_eq!(s.len(), 2);
        assert_eq!(
            (s[0].name, s[0].value, s[0].label("a")),
            ("plain", 3.0, None)
        );
        assert_eq!((s[1].name, s[1].value), ("with", 2.5));
        assert_eq!(s[1].label("a"), Some("1"));
        assert_eq!(s[1].label("le"), Some("+Inf"));
        assert_eq!(s[1].label("b"), None);
    }
}
