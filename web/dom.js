// dom.js: the small builder of elements that the page's parts share
// (lessonindex.js, quiz.js). Loaded before them.
"use strict";

(() => {
  const parts = (window.mmuvizParts = window.mmuvizParts || {});

  // node makes a tag element with the class cls (none when empty) and the
  // text text (none when undefined).
  parts.node = (tag, cls, text) => {
    const n = document.createElement(tag);
    if (cls) {
      n.className = cls;
    }
    if (text !== undefined) {
      n.textContent = text;
    }
    return n;
  };
})();
