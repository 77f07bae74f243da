"use strict";
// A checked proof bundle in plain words (es/en through the caller's `t`), shared by the page's
// "check a file" view (app.js) and the single-file offline verifier (docs/verifier.html): one
// wording for the same result of EnlaceVerify.checkBundle.

const EnlaceReport = (() => {
  function describe(checked, t, fingerprint) {
    const lines = [t("check.ok", { count: checked.count, size: checked.size, fingerprint })];
    if (checked.complete) {
      lines.push(t("check.complete", { size: checked.complete.upTo, count: checked.complete.count }));
    }
    if (checked.witnessed.length) {
      const names = checked.witnessed.join(", ");
      lines.push(t("check.witnessed", { count: checked.witnessed.length, names }));
    }
    if (checked.consistentWith !== null) {
      lines.push(t("check.consistent", { size: checked.consistentWith }));
    }
    return lines.join(" ");
  }

  // A BundleProblem (or any error) as the sentence the reader sees; one of the older file on
  // its own says so, since the reader chose two files.
  function problem(error, t) {
    const reason = error && error.reason ? error.reason : "format";
    let detail = t(`check.bad.${reason}`, { index: error && error.index, detail: error && error.message });
    if (error && error.inOlder) detail = t("check.bad.in_older", { reason: detail });
    return t("check.bad", { reason: detail });
  }

  return { describe, problem };
})();
