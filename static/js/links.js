/* Links to URLs that came from outside (an event's facets, through the API): the same rule as the pages'
 * `external_link` filter (lineage/templatetags/tributary.py). Only an absolute http(s) URL becomes a link;
 * javascript:, data:, vbscript:, //host and relative URLs are shown as text. Elements are built with the DOM,
 * never from HTML strings, so a URL or its label cannot add markup. */
(function () {
  "use strict";
  // What browsers drop before reading a URL: tab and newline anywhere, C0 controls and spaces at either end.
  var DROPPED_ANYWHERE = /[\t\n\r]/g;
  var DROPPED_AT_ENDS = /^[\x00-\x20]+|[\x00-\x20]+$/g;
  // The same expression as _LINKABLE in lineage/templatetags/tributary.py: keep the two alike.
  var LINKABLE = /^https?:\/\/[^\/\\?#\x00-\x20]/i;

  function externalHref(url) {
    if (typeof url !== "string") return null;
    var cleaned = url.replace(DROPPED_ANYWHERE, "").replace(DROPPED_AT_ENDS, "");
    return LINKABLE.test(cleaned) ? cleaned : null;
  }

  // An <a> to `url` when externalHref accepts it, else a text node; `text` (default: the URL) is the label.
  function externalLink(url, text) {
    var label = text == null ? String(url == null ? "" : url) : String(text);
    var href = externalHref(url);
    if (href === null) return document.createTextNode(label);
    var a = document.createElement("a");
    a.href = href;
    a.rel = "noopener noreferrer";
    a.textContent = label;
    return a;
  }

  window.Tributary = Object.assign(window.Tributary || {}, { externalHref: externalHref, externalLink: externalLink });
})();
