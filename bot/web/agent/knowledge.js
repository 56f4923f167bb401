/*
 * Knowledge panel of the agent desk: suggests articles for the conversation on screen (its intent
 * and fault code are the query until the agent types one) and pushes an article's approved
 * customer summary to the customer in one click. Strings come from /agent/ui/knowledge_panel.zh.json,
 * helpers from desk_common.js;
 * every article text is inserted with textContent. Learns which conversation is open from the
 * desk's "kefu:conversation" event.
 */
(function () {
  "use strict";

  var common = window.kefuDeskCommon, el = common.el, api = common.api;
  var t = common.translator({});
  var conversation = null;
  var panel = null, input = null, heading = null, list = null, status = null;

  function search() {
    var params = "q=" + encodeURIComponent(input.value.trim());
    if (conversation) { params += "&conversation_id=" + encodeURIComponent(conversation); }
    return api("GET", "knowledge?" + params).then(render).catch(function (e) { status.textContent = t(e.code); });
  }
  function render(data) {
    common.clear(list);
    heading.textContent = data.query && data.query.text ? t("knowledge_results") : t("knowledge_suggested");
    if (!data.articles.length) { list.appendChild(el("p", "kb-empty", t("knowledge_none"))); }
    data.articles.forEach(function (article) {
      var card = el("article", "kb-article");
      card.setAttribute("data-article-id", article.id);
      card.appendChild(el("h3", "kb-title", article.title));
      card.appendChild(el("div", "kb-tags", article.tags.join(" · ")));
      card.appendChild(el("p", "kb-summary", article.summary));
      var details = el("details");
      details.appendChild(el("summary", null, t("knowledge_steps")));
      details.appendChild(el("div", "kb-body", article.body));
      card.appendChild(details);
      var push = el("button", "kb-push", t("knowledge_push"));
      push.type = "button";
      push.addEventListener("click", function () { pushArticle(article); });
      card.appendChild(push);
      list.appendChild(card);
    });
  }
  function pushArticle(article) {
    if (!conversation) { status.textContent = t("knowledge_no_conversation"); return; }
    api("POST", "knowledge/" + encodeURIComponent(article.id) + "/push", { conversation_id: conversation })
      .then(function () { status.textContent = t("knowledge_pushed", { title: article.title }); })
      .catch(function (e) { status.textContent = t(e.code); });
  }

  function build() {
    panel = document.getElementById("knowledge-panel");
    if (!panel) { return; }
    var style = document.createElement("link");
    style.rel = "stylesheet"; style.href = "/agent/assets/knowledge.css";
    document.head.appendChild(style);
    panel.appendChild(el("h2", null, t("knowledge_title")));
    var form = el("form", "kb-search");
    form.setAttribute("autocomplete", "off");
    input = el("input"); input.id = "knowledge-query"; input.maxLength = 200;
    input.setAttribute("placeholder", t("knowledge_placeholder"));
    input.setAttribute("aria-label", t("knowledge_query_label"));  // the placeholder goes while typing
    var button = el("button", null, t("knowledge_search")); button.type = "submit";
    form.appendChild(input); form.appendChild(button);
    form.addEventListener("submit", function (event) { event.preventDefault(); search(); });
    panel.appendChild(form);
    status = el("p", "kb-status"); status.setAttribute("role", "status");
    heading = el("p", "kb-heading");
    list = el("div", "kb-list");
    panel.appendChild(status); panel.appendChild(heading); panel.appendChild(list);
    document.addEventListener("kefu:conversation", function (event) {
      conversation = event.detail || null;
      status.textContent = "";
      if (conversation) { input.value = ""; search(); }
    });
  }

  common.loadLabels("/agent/ui/knowledge_panel.zh.json").then(function (loaded) { t = loaded; common.whenReady(build); });
})();
