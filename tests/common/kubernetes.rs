//! Reading the objects of a built Kubernetes overlay (YAML parsed with
//! serde_norway), and how ingress-nginx picks the route for a path.

use serde_norway::Value;

pub fn s<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    path.split('.').try_fold(v, |v, k| v.get(k))
}
pub fn str_at<'a>(v: &'a Value, path: &str) -> &'a str {
    s(v, path).and_then(Value::as_str).unwrap_or_default()
}
pub fn seq<'a>(v: &'a Value, path: &str) -> Vec<&'a Value> {
    s(v, path)
        .and_then(Value::as_sequence)
        .map(|q| q.iter().collect())
        .unwrap_or_default()
}
pub fn kind(v: &Value) -> &str {
    str_at(v, "kind")
}
pub fn name(v: &Value) -> &str {
    str_at(v, "metadata.name")
}
pub fn of_kind<'a>(docs: &'a [Value], k: &str) -> Vec<&'a Value> {
    docs.iter().filter(|d| kind(d) == k).collect()
}
pub fn named<'a>(docs: &'a [Value], k: &str, n: &str) -> &'a Value {
    docs.iter()
        .find(|d| kind(d) == k && name(d) == n)
        .unwrap_or_else(|| panic!("no {k} {n}"))
}
/// The pod template's spec of a Deployment or Job, or of a CronJob's job.
pub fn pod_spec(workload: &Value) -> &Value {
    s(workload, "spec.template.spec")
        .or_else(|| s(workload, "spec.jobTemplate.spec.template.spec"))
        .expect("a pod template")
}

/// A label or annotation (their keys have dots, which `s` would split).
pub fn meta<'a>(v: &'a Value, map: &str, key: &str) -> &'a str {
    s(v, &format!("metadata.{map}"))
        .and_then(|m| m.get(key))
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Which Service a request path reaches, the way ingress-nginx chooses with
/// use-regex: every path a case-insensitive regex anchored at the start,
/// longest path first, first match wins.
pub fn route<'a>(routes: &'a [(String, String)], request: &str) -> Option<&'a str> {
    let mut sorted: Vec<&(String, String)> = routes.iter().collect();
    sorted.sort_by_key(|(p, _)| std::cmp::Reverse(p.len()));
    sorted
        .into_iter()
        .find(|(p, _)| {
            regex::RegexBuilder::new(&format!("^{p}"))
                .case_insensitive(true)
                .build()
                .unwrap()
                .is_match(request)
        })
        .map(|(_, svc)| svc.as_str())
}
