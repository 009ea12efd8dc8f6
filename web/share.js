// share.js: "Copy link to this step", embed mode and presenter mode (with
// the clicker's blank key). A part of the page that app.js wires up; see
// web/BRIDGE.md ("Sharing, embedding, presenting").
"use strict";

(() => {
  const parts = (window.mmuvizParts = window.mmuvizParts || {});

  parts.share = (app) => {
    const { view, el } = app;

    let copyTimer = 0;
    function copyLink() {
      const url = location.href.split("#")[0] + app.permalink();
      el.linkText.value = url;
      const done = (ok) => {
        el.copyStatus.textContent = ok ? "Copied" : "Press Ctrl+C to copy the selected link";
        clearTimeout(copyTimer);
        copyTimer = setTimeout(() => { el.copyStatus.textContent = ""; }, 4000);
      };
      // The fallback: a read-only field holding the link, selected.
      const fallback = () => {
        el.linkText.hidden = false;
        el.linkText.focus();
        el.linkText.select();
        let ok = false;
        try {
          ok = document.execCommand("copy");
        } catch (err) {
          ok = false;
        }
        done(ok);
      };
      if (navigator.clipboard && typeof navigator.clipboard.writeText === "function") {
        navigator.clipboard.writeText(url).then(() => {
          el.linkText.hidden = true;
          done(true);
        }, fallback);
      } else {
        fallback();
      }
    }

    // setModes turns embed and presenter mode on or off; the hash follows
    // (unless the change comes from the hash, which the caller then reads).
    function setModes(embed, present, write) {
      view.embed = embed === true;
      view.present = present === true;
      document.body.classList.toggle("embed", view.embed);
      document.body.classList.toggle("presenting", view.present);
      el.present.textContent = view.present ? "Stop presenting" : "Present";
      if (!view.present) {
        setBlank(false);
      }
      if (write !== false) {
        app.writeHash();
      }
    }

    function togglePresent() {
      const on = !view.present;
      setModes(view.embed, on);
      const doc = document.documentElement;
      if (on) {
        // Fullscreen needs a user gesture; a permalink with &present=1 opens
        // presenter mode without it.
        const gesture = !navigator.userActivation || navigator.userActivation.isActive;
        if (gesture && !document.fullscreenElement && typeof doc.requestFullscreen === "function") {
          doc.requestFullscreen().then(() => { view.fullscreen = true; }, () => { view.fullscreen = false; });
        }
      } else if (document.fullscreenElement && typeof document.exitFullscreen === "function") {
        view.fullscreen = false;
        document.exitFullscreen().catch(() => {});
      }
    }

    // Leaving fullscreen (the browser's own Esc) leaves presenter mode too.
    document.addEventListener("fullscreenchange", () => {
      if (!document.fullscreenElement && view.fullscreen) {
        view.fullscreen = false;
        if (view.present) {
          setModes(view.embed, false);
        }
      }
    });

    function setBlank(on) {
      view.blank = on === true;
      el.blank.hidden = !view.blank;
    }

    el.copyLink.addEventListener("click", copyLink);
    app.onClick(el.present, togglePresent);

    return { setModes, togglePresent, setBlank };
  };
})();
