// rover-mt docs page: renders the server's OpenAPI document, with a small
// "try it" form per operation. Plain DOM, no dependencies, no other hosts:
// everything comes from the server that served this page.
(function () {
  "use strict";

  var spec = null;

  // Element helper: el("div", {class: "x"}, child, "text", ...). Text is always
  // set as text (never HTML), so nothing in the document can inject markup.
  function el(tag, attrs) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (k) {
        if (attrs[k] !== undefined && attrs[k] !== null) node.setAttribute(k, attrs[k]);
      });
    }
    for (var i = 2; i < arguments.length; i++) {
      var c = arguments[i];
      if (c === null || c === undefined) continue;
      node.appendChild(typeof c === "string" ? document.createTextNode(c) : c);
    }
    return node;
  }

  function resolve(schema) {
    var seen = 0;
    while (schema && schema.$ref && seen++ < 20) {
      var parts = schema.$ref.replace(/^#\//, "").split("/");
      var target = spec;
      parts.forEach(function (p) { target = target ? target[p] : undefined; });
      schema = target || {};
    }
    return schema || {};
  }

  function typeText(s) {
    if (s.$ref) return s.$ref.split("/").pop();
    s = resolve(s);
    if (s.anyOf || s.oneOf) {
      return (s.anyOf || s.oneOf).map(typeText).join(" | ");
    }
    var t = Array.isArray(s.type) ? s.type.join(" | ") : (s.type || "any");
    if (s.type === "array" && s.items) t = "array of " + typeText(s.items);
    return t;
  }

  // The constraints a reader needs, as short words: "1..80 chars", "min 0" ...
  function constraintText(s) {
    var out = [];
    if (s.enum) out.push("one of " + s.enum.map(function (v) { return JSON.stringify(v); }).join(", "));
    if (s.minimum !== undefined) out.push("min " + s.minimum);
    if (s.maximum !== undefined) out.push("max " + s.maximum);
    if (s.minLength !== undefined) out.push("min length " + s.minLength);
    if (s.maxLength !== undefined) out.push("max length " + s.maxLength);
    if (s.minItems !== undefined) out.push("min items " + s.minItems);
    if (s.maxItems !== undefined) out.push("max items " + s.maxItems);
    if (s["x-lua-pattern"] !== undefined) out.push("Lua pattern " + s["x-lua-pattern"]);
    else if (s.pattern !== undefined) out.push("pattern " + s.pattern);
    if (s["default"] !== undefined) out.push("default " + JSON.stringify(s["default"]));
    return out.join("; ");
  }

  // A schema as a nested list of fields (objects and arrays unfold).
  function schemaTree(schema, depth) {
    var s = resolve(schema);
    depth = depth || 0;
    var box = el("div", { "class": "schema" });
    var head = el("div", null, el("code", { "class": "type" }, typeText(schema)));
    var c = constraintText(s);
    if (c) head.appendChild(el("span", { "class": "constraints" }, " " + c));
    if (s.description) head.appendChild(el("span", { "class": "desc" }, " " + s.description));
    box.appendChild(head);
    if (depth > 8) return box;
    var variants = s.anyOf || s.oneOf;
    if (variants) {
      variants.forEach(function (v) { box.appendChild(schemaTree(v, depth + 1)); });
    } else if (s.properties) {
      var list = el("ul", { "class": "fields" });
      var required = s.required || [];
      Object.keys(s.properties).sort().forEach(function (name) {
        var item = el("li", null, el("code", { "class": "field" }, name),
          required.indexOf(name) >= 0 ? el("span", { "class": "required" }, " required") : null);
        item.appendChild(schemaTree(s.properties[name], depth + 1));
        list.appendChild(item);
      });
      box.appendChild(list);
    } else if (s.items && resolve(s.items).properties) {
      box.appendChild(schemaTree(s.items, depth + 1));
    }
    return box;
  }

  // A plausible example body built from the schema, to start the "try it" form.
  function example(schema, depth) {
    var s = resolve(schema);
    depth = depth || 0;
    if (s["default"] !== undefined) return s["default"];
    if (s.enum) return s.enum[0];
    if (s.examples && s.examples.length) return s.examples[0];
    var t = Array.isArray(s.type) ? s.type[0] : s.type;
    if (depth > 6) return null;
    if (t === "object" || s.properties) {
      var out = {};
      Object.keys(s.properties || {}).forEach(function (k) {
        out[k] = example(s.properties[k], depth + 1);
      });
      return out;
    }
    if (t === "array") {
      var n = Math.max(1, s.minItems || 0), arr = [];
      for (var i = 0; i < n && i < 3; i++) arr.push(example(s.items || {}, depth + 1));
      return arr;
    }
    if (t === "integer" || t === "number") return s.minimum !== undefined ? s.minimum : 1;
    if (t === "boolean") return true;
    if (t === "string") {
      if (s.pattern && /@/.test(s.pattern)) return "user@example.com";
      var str = "text";
      while (s.minLength && str.length < s.minLength) str += "x";
      return s.maxLength !== undefined ? str.slice(0, Math.max(s.maxLength, s.minLength || 0)) : str;
    }
    return null;
  }

  function tryItForm(path, method, op, params) {
    var form = el("form", { "class": "try" });
    var inputs = {};
    params.forEach(function (p) {
      var input = el("input", { name: p.name, required: "required", placeholder: p.name });
      inputs[p.name] = input;
      form.appendChild(el("label", null, p.name + " ", input));
    });
    var body = null, bodyType = null;
    if (op.requestBody) {
      var content = op.requestBody.content || {};
      bodyType = Object.keys(content)[0] || "application/json";
      var media = content[bodyType] || {};
      var text = bodyType.indexOf("json") >= 0 ? JSON.stringify(example(media.schema || {}), null, 2) : "";
      body = el("textarea", { rows: Math.min(14, text.split("\n").length + 1), spellcheck: "false" });
      body.value = text;
      form.appendChild(el("label", { "class": "body" }, "Body (" + bodyType + ")", body));
    }
    var query = el("input", { name: "query", placeholder: "a=1&b=2" });
    form.appendChild(el("label", null, "query ", query));
    var send = el("button", { type: "submit" }, "Send " + method.toUpperCase());
    var result = el("pre", { "class": "result" });
    form.appendChild(send);
    form.appendChild(result);
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var url = path.replace(/\{([^}]+)\}/g, function (_, name) {
        var v = inputs[name] ? inputs[name].value : "";
        // Catch-all values keep their slashes; everything else is one segment.
        var p = params.filter(function (x) { return x.name === name; })[0];
        return p && p["x-rover-catch-all"] ? v.split("/").map(encodeURIComponent).join("/")
                                           : encodeURIComponent(v);
      });
      if (query.value) url += "?" + query.value.replace(/^\?/, "");
      var init = { method: method.toUpperCase(), headers: {} };
      if (body) { init.body = body.value; init.headers["Content-Type"] = bodyType; }
      result.textContent = "...";
      fetch(url, init).then(function (resp) {
        return resp.text().then(function (text) {
          var shown = text;
          try { shown = JSON.stringify(JSON.parse(text), null, 2); } catch (e) { /* not JSON */ }
          result.textContent = resp.status + " " + resp.statusText + "  " +
            (resp.headers.get("Content-Type") || "") + "\n\n" + shown;
        });
      }, function (err) { result.textContent = "Request failed: " + err; });
    });
    return form;
  }

  function operationView(path, method, op, pathItem) {
    var params = (pathItem.parameters || []).concat(op.parameters || []);
    var summary = el("summary", null,
      el("span", { "class": "method m-" + method }, method.toUpperCase()),
      el("code", { "class": "path" }, path),
      op.summary ? el("span", { "class": "summary" }, op.summary) : null,
      op.deprecated ? el("span", { "class": "deprecated" }, "deprecated") : null);
    var box = el("details", { "class": "op", "data-method": method.toUpperCase(), "data-path": path,
                              id: op.operationId }, summary);
    if (op.description) box.appendChild(el("p", { "class": "description" }, op.description));
    if (op["x-rover-handler"]) box.appendChild(el("p", { "class": "where" }, "Handler: " + op["x-rover-handler"]));
    if (params.length) {
      var plist = el("ul", { "class": "params" });
      params.forEach(function (p) {
        plist.appendChild(el("li", null, el("code", { "class": "field" }, p.name),
          " (" + p["in"] + ") ", el("code", { "class": "type" }, typeText(p.schema || {})),
          p.description ? " " + p.description : null));
      });
      box.appendChild(el("h4", null, "Parameters"));
      box.appendChild(plist);
    }
    if (op.requestBody) {
      box.appendChild(el("h4", null, "Request body"));
      var content = op.requestBody.content || {};
      Object.keys(content).forEach(function (ct) {
        var wrap = el("div", { "class": "request-body", "data-content-type": ct }, el("div", { "class": "ctype" }, ct));
        if (content[ct].schema) wrap.appendChild(schemaTree(content[ct].schema));
        box.appendChild(wrap);
      });
    }
    box.appendChild(el("h4", null, "Responses"));
    var rlist = el("ul", { "class": "responses" });
    Object.keys(op.responses || {}).sort().forEach(function (status) {
      var r = op.responses[status];
      var item = el("li", null, el("span", { "class": "status s" + status.charAt(0) }, status), " " + (r.description || ""));
      Object.keys(r.content || {}).forEach(function (ct) {
        item.appendChild(el("div", { "class": "ctype" }, ct));
        if (r.content[ct].schema) item.appendChild(schemaTree(r.content[ct].schema));
      });
      rlist.appendChild(item);
    });
    box.appendChild(rlist);
    box.appendChild(el("h4", null, "Try it"));
    box.appendChild(tryItForm(path, method, op, params));
    return box;
  }

  var METHODS = ["get", "post", "put", "patch", "delete", "head", "options"];

  function groupOf(path, op) {
    if (op.tags && op.tags.length) return op.tags[0];
    var first = path.split("/")[1] || "";
    return first && first.charAt(0) !== "{" ? first : "(root)";
  }

  function render() {
    var info = spec.info || {};
    document.title = (info.title || "API") + " - docs";
    document.getElementById("title").textContent = info.title || "API docs";
    document.getElementById("about").textContent = (info.description || "") +
      (info.version ? " Version " + info.version + "." : "");
    var groups = {}, order = [], count = 0;
    Object.keys(spec.paths || {}).forEach(function (path) {
      var item = spec.paths[path];
      METHODS.forEach(function (m) {
        if (!item[m]) return;
        var g = groupOf(path, item[m]);
        if (!groups[g]) { groups[g] = []; order.push(g); }
        groups[g].push(operationView(path, m, item[m], item));
        count++;
      });
    });
    var main = document.getElementById("operations");
    main.textContent = "";
    order.sort().forEach(function (g) {
      var section = el("section", { "class": "group" }, el("h2", null, g));
      groups[g].forEach(function (op) { section.appendChild(op); });
      main.appendChild(section);
    });
    main.setAttribute("data-operations", String(count));
    if (!count) main.appendChild(el("p", { "class": "note" }, "This app has no routes."));
  }

  function applyFilter() {
    var q = document.getElementById("filter").value.toLowerCase();
    Array.prototype.forEach.call(document.querySelectorAll("details.op"), function (d) {
      d.hidden = q !== "" && d.textContent.toLowerCase().indexOf(q) < 0;
    });
  }

  document.getElementById("filter").addEventListener("input", applyFilter);
  var url = document.body.getAttribute("data-spec-url");
  fetch(url, { headers: { Accept: "application/json" } }).then(function (resp) {
    if (!resp.ok) throw new Error(resp.status + " " + resp.statusText);
    return resp.json();
  }).then(function (doc) {
    spec = doc;
    render();
  }).catch(function (err) {
    var main = document.getElementById("operations");
    main.textContent = "";
    main.appendChild(el("p", { "class": "error" }, "Could not load " + url + ": " + err.message));
  });
})();
