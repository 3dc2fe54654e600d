/* Module "runwatch.wandbfile": the .wandb reader (runtime/wandb_file.c) as runwatch.WandbFile userdata. */
#include <string.h>

#include "bindings.h"
#include "wandb_file.h"

#define RW_WANDBFILE "runwatch.WandbFile"
#define RW_WB_MAX_ERRORS 1000   /* errors kept per reader (the count goes on) */

typedef struct LWandbFile {
  rw_wbr *r;                 /* NULL = closed */
  int output;
  int fatal_kept;            /* a fatal error is kept once, then only returned */
  lua_Integer nerrors;       /* errors seen, including those not kept */
} LWandbFile;
/* uservalue 1: the list of kept errors {offset=, message=} */

/* ====================================================================== */
/* {====== Records as Lua tables */

static void set_str(lua_State *L, const char *k, rw_wb_str s) {  /* [-0, +0, m] */
  if (!s.n) return;
  lua_pushlstring(L, s.p, s.n);
  lua_setfield(L, -2, k);
}

static void set_int(lua_State *L, const char *k, lua_Integer v) {  /* [-0, +0, m] */
  lua_pushinteger(L, v);
  lua_setfield(L, -2, k);
}

static void set_time(lua_State *L, const char *k, const rw_wb_time *t) {  /* [-0, +0, m] */
  if (!t->set) return;
  lua_pushnumber(L, (lua_Number)t->seconds + (lua_Number)t->nanos / 1e9);
  lua_setfield(L, -2, k);
}

/* A list of strings rec->strs[first .. first + n). [-0, +1, m] */
static void push_strs(lua_State *L, const rw_wb_record *rec, size_t first, size_t n) {
  size_t i;
  lua_createtable(L, (int)n, 0);
  for (i = 0; i < n; i++) {
    lua_pushlstring(L, rec->strs[first + i].p, rec->strs[first + i].n);
    lua_rawseti(L, -2, (lua_Integer)i + 1);
  }
}

/*
 * The items of one list: {key=, nested_key={...}?, value_json=}. key is the item's key,
 * or its nested_key joined with "." when the writer used nested_key (wandb-core does for
 * every history and summary leaf). [-0, +1, m]
 */
static void push_items(lua_State *L, const rw_wb_record *rec, int list) {
  size_t i, j;
  lua_Integer n = 0;
  lua_newtable(L);
  for (i = 0; i < rec->nitems; i++) {
    const rw_wb_item *it = &rec->items[i];
    if (it->list != list) continue;
    lua_createtable(L, 0, 3);
    if (it->key.n || !it->nested_count) {
      lua_pushlstring(L, it->key.p ? it->key.p : "", it->key.n);
    } else {
      luaL_Buffer b;
      luaL_buffinit(L, &b);
      for (j = 0; j < it->nested_count; j++) {
        if (j) luaL_addchar(&b, '.');
        luaL_addlstring(&b, rec->strs[it->nested_first + j].p, rec->strs[it->nested_first + j].n);
      }
      luaL_pushresult(&b);
    }
    lua_setfield(L, -2, "key");
    if (it->nested_count) {
      push_strs(L, rec, it->nested_first, it->nested_count);
      lua_setfield(L, -2, "nested_key");
    }
    lua_pushlstring(L, it->value_json.p ? it->value_json.p : "", it->value_json.n);
    lua_setfield(L, -2, "value_json");
    lua_rawseti(L, -2, ++n);
  }
}

static int has_list(const rw_wb_record *rec, int list) {
  size_t i;
  for (i = 0; i < rec->nitems; i++)
    if (rec->items[i].list == list) return 1;
  return 0;
}

/* The record as a table; the fields of each type are listed in docs/wandb-file.md. [-0, +1, m] */
static void push_record(lua_State *L, const rw_wb_record *rec, int output) {
  static const char *goals[] = {"unset", "minimize", "maximize"};
  lua_createtable(L, 0, 6);
  lua_pushstring(L, rw_wb_type_name(rec->type));
  lua_setfield(L, -2, "type");
  set_int(L, "offset", (lua_Integer)rec->offset);
  if (rec->num) set_int(L, "num", rec->num);
  switch (rec->type) {
    case RW_WB_T_HISTORY:
      if (rec->has_step) set_int(L, "step", rec->step);
      push_items(L, rec, RW_WB_L_ITEMS);
      lua_setfield(L, -2, "items");
      break;
    case RW_WB_T_CONFIG:
    case RW_WB_T_SUMMARY:
      push_items(L, rec, RW_WB_L_UPDATE);
      lua_setfield(L, -2, "update");
      push_items(L, rec, RW_WB_L_REMOVE);
      lua_setfield(L, -2, "remove");
      break;
    case RW_WB_T_STATS:
      set_time(L, "timestamp", &rec->timestamp);
      push_items(L, rec, RW_WB_L_ITEMS);
      lua_setfield(L, -2, "items");
      break;
    case RW_WB_T_EXIT:
      set_int(L, "exit_code", rec->exit_code);
      set_int(L, "runtime", rec->runtime);
      if (rec->not_complete) { lua_pushboolean(L, 1); lua_setfield(L, -2, "not_complete"); }
      break;
    case RW_WB_T_ALERT:
      set_str(L, "title", rec->title);
      set_str(L, "text", rec->text);
      set_str(L, "level", rec->level);
      set_int(L, "wait_duration", rec->wait_duration);
      break;
    case RW_WB_T_OUTPUT:
    case RW_WB_T_OUTPUT_RAW:
    case RW_WB_T_OUTPUT_LOGGER:
      if (!output) break;
      lua_pushlstring(L, rec->line.p ? rec->line.p : "", rec->line.n);
      lua_setfield(L, -2, "line");
      if (rec->type != RW_WB_T_OUTPUT_LOGGER) {
        lua_pushstring(L, rec->output_type == 1 ? "stdout" : "stderr");
        lua_setfield(L, -2, "stream");
        set_time(L, "timestamp", &rec->timestamp);
      }
      break;
    case RW_WB_T_RUN:
      set_str(L, "run_id", rec->run_id);
      set_str(L, "entity", rec->entity);
      set_str(L, "project", rec->project);
      set_str(L, "display_name", rec->display_name);
      set_str(L, "notes", rec->notes);
      set_str(L, "group", rec->run_group);
      set_str(L, "job_type", rec->job_type);
      set_str(L, "sweep_id", rec->sweep_id);
      set_str(L, "host", rec->host);
      set_str(L, "storage_id", rec->storage_id);
      set_str(L, "git_remote", rec->git_remote);
      set_str(L, "git_commit", rec->git_commit);
      push_strs(L, rec, rec->tags_first, rec->tags_count);
      lua_setfield(L, -2, "tags");
      push_items(L, rec, RW_WB_L_RUN_CONFIG);
      lua_setfield(L, -2, "config");
      if (has_list(rec, RW_WB_L_RUN_SUMMARY)) {
        push_items(L, rec, RW_WB_L_RUN_SUMMARY);
        lua_setfield(L, -2, "summary");
      }
      set_time(L, "start_time", &rec->start_time);
      if (rec->starting_step) set_int(L, "starting_step", rec->starting_step);
      if (rec->runtime) set_int(L, "runtime", rec->runtime);
      if (rec->resumed) { lua_pushboolean(L, 1); lua_setfield(L, -2, "resumed"); }
      if (rec->forked) { lua_pushboolean(L, 1); lua_setfield(L, -2, "forked"); }
      break;
    case RW_WB_T_HEADER:
      set_str(L, "producer", rec->producer);
      set_str(L, "min_consumer", rec->min_consumer);
      break;
    case RW_WB_T_METRIC:
      set_str(L, "name", rec->metric_name);
      set_str(L, "glob_name", rec->glob_name);
      set_str(L, "step_metric", rec->step_metric);
      if (rec->goal > 0 && rec->goal < 3) {
        lua_pushstring(L, goals[rec->goal]);
        lua_setfield(L, -2, "goal");
      }
      break;
    case RW_WB_T_ARTIFACT:
      set_str(L, "run_id", rec->run_id);
      set_str(L, "entity", rec->entity);
      set_str(L, "project", rec->project);
      set_str(L, "artifact_type", rec->art_type);
      set_str(L, "name", rec->art_name);
      set_str(L, "digest", rec->art_digest);
      set_str(L, "description", rec->art_description);
      set_str(L, "metadata", rec->art_metadata);
      push_strs(L, rec, rec->aliases_first, rec->aliases_count);
      lua_setfield(L, -2, "aliases");
      push_strs(L, rec, rec->tags_first, rec->tags_count);
      lua_setfield(L, -2, "tags");
      if (rec->user_created) { lua_pushboolean(L, 1); lua_setfield(L, -2, "user_created"); }
      break;
    case RW_WB_T_USE_ARTIFACT:
      set_str(L, "id", rec->art_id);
      set_str(L, "artifact_type", rec->art_type);
      set_str(L, "name", rec->art_name);
      break;
    case RW_WB_T_UNKNOWN:
      set_int(L, "field", rec->field);
      break;
    default:
      break;
  }
}

/* {offset=, message=} [-0, +1, m] */
static void push_error(lua_State *L, const rw_wb_error *err) {
  lua_createtable(L, 0, 2);
  set_int(L, "offset", (lua_Integer)err->offset);
  lua_pushstring(L, err->message);
  lua_setfield(L, -2, "message");
}

/* }====== */

/* ====================================================================== */
/* {====== runwatch.WandbFile */

static LWandbFile *checkfile(lua_State *L) {  /* may raise */
  LWandbFile *f = luaL_checkudata(L, 1, RW_WANDBFILE);
  if (!f->r) luaL_error(L, "attempt to use a closed wandb file");
  return f;
}

/* Reads the options table at index idx; unknown keys are misuse. [-0, +0, v] */
static void check_options(lua_State *L, int idx, lua_Integer *offset, int *output,
                          lua_Integer *max_record) {
  if (lua_isnoneornil(L, idx)) return;
  luaL_checktype(L, idx, LUA_TTABLE);
  lua_pushnil(L);
  while (lua_next(L, idx)) {
    const char *k = lua_type(L, -2) == LUA_TSTRING ? lua_tostring(L, -2) : NULL;
    if (!k || (strcmp(k, "offset") && strcmp(k, "output") && strcmp(k, "max_record")))
      luaL_error(L, "bad option '%s' (expected offset, output or max_record)",
                 k ? k : luaL_typename(L, -2));
    lua_pop(L, 1);
  }
  *offset = rw_opt_integer(L, idx, "offset", 0);
  *output = rw_opt_boolean(L, idx, "output", 0);
  *max_record = rw_opt_integer(L, idx, "max_record", 0);
  if (*offset < 0 || (*offset > 0 && *offset < RW_WB_HEADER_SIZE))
    luaL_error(L, "bad option 'offset' (0 or a saved offset >= 7 expected, got %I)", *offset);
  if (*max_record < 0 || *max_record > ((lua_Integer)1 << 31))
    luaL_error(L, "bad option 'max_record' (0..2^31 expected)");
}

/* wandbfile.open(path [, {offset=, output=, max_record=}]) -> file | nil, err */
static int wbf_open(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  lua_Integer offset = 0, max_record = 0;
  int output = 0;
  char err[300];
  rw_wb_opts opts;
  LWandbFile *f;
  check_options(L, 2, &offset, &output, &max_record);
  f = lua_newuserdatauv(L, sizeof *f, 1);
  f->r = NULL;
  f->output = output;
  f->fatal_kept = 0;
  f->nerrors = 0;
  luaL_setmetatable(L, RW_WANDBFILE);
  lua_newtable(L);
  lua_setiuservalue(L, -2, 1);
  opts.output = output;
  opts.max_record = (size_t)max_record;
  f->r = rw_wbr_open(path, (uint64_t)offset, &opts, err, sizeof err);
  if (!f->r) {
    luaL_pushfail(L);
    lua_pushstring(L, err);
    return 2;
  }
  return 1;
}

static void keep_error(lua_State *L, LWandbFile *f, int ud, const rw_wb_error *err) {
  f->nerrors++;
  if (f->nerrors > RW_WB_MAX_ERRORS) return;
  lua_getiuservalue(L, ud, 1);
  push_error(L, err);
  lua_rawseti(L, -2, f->nerrors);
  lua_pop(L, 1);
}

/*
 * file:read() -> record | nil (no complete record yet) | false, {offset=, message=}
 * (corruption or a fatal error; reading goes on with the next call unless err.fatal).
 */
static int wbf_read(lua_State *L) {
  LWandbFile *f = checkfile(L);
  rw_wb_record rec;
  rw_wb_error err;
  int st = rw_wbr_next(f->r, &rec, &err);
  if (st == RW_WB_RECORD) {
    push_record(L, &rec, f->output);
    return 1;
  }
  if (st == RW_WB_AGAIN) {
    lua_pushnil(L);
    return 1;
  }
  if (st != RW_WB_FATAL || !f->fatal_kept) keep_error(L, f, 1, &err);
  if (st == RW_WB_FATAL) f->fatal_kept = 1;
  lua_pushboolean(L, 0);
  push_error(L, &err);
  if (st == RW_WB_FATAL) {
    lua_pushboolean(L, 1);
    lua_setfield(L, -2, "fatal");
  }
  return 2;
}

/* file:records() -> iterator over the complete records now available; errors are skipped
   (and kept in file:errors()). */
static int wbf_records_step(lua_State *L) {
  for (;;) {
    int n;
    lua_settop(L, 1);
    n = wbf_read(L);
    if (n == 1) return 1;                       /* a record, or nil: the end for now */
    if (lua_istable(L, -1)) {
      lua_getfield(L, -1, "fatal");
      if (lua_toboolean(L, -1)) { lua_pushnil(L); return 1; }
    }
  }
}

static int wbf_records(lua_State *L) {
  checkfile(L);
  lua_pushcfunction(L, wbf_records_step);
  lua_pushvalue(L, 1);
  return 2;
}

/* file:errors() -> a new list of {offset=, message=} (at most 1000), and the total count */
static int wbf_errors(lua_State *L) {
  LWandbFile *f = luaL_checkudata(L, 1, RW_WANDBFILE);
  lua_Integer i, n = f->nerrors < RW_WB_MAX_ERRORS ? f->nerrors : RW_WB_MAX_ERRORS;
  lua_createtable(L, (int)n, 0);
  lua_getiuservalue(L, 1, 1);
  for (i = 1; i <= n; i++) {
    lua_rawgeti(L, -1, i);
    lua_rawseti(L, -3, i);
  }
  lua_pop(L, 1);
  lua_pushinteger(L, f->nerrors);
  return 2;
}

static int wbf_offset(lua_State *L) {
  LWandbFile *f = checkfile(L);
  lua_pushinteger(L, (lua_Integer)rw_wbr_offset(f->r));
  return 1;
}

/* file:size() -> current size of the file in bytes, or nil, err */
static int wbf_size(lua_State *L) {
  LWandbFile *f = checkfile(L);
  int64_t n = rw_wbr_size(f->r);
  if (n < 0) {
    luaL_pushfail(L);
    lua_pushfstring(L, "%s: cannot stat", rw_wbr_name(f->r));
    return 2;
  }
  lua_pushinteger(L, (lua_Integer)n);
  return 1;
}

static int wbf_close(lua_State *L) {
  LWandbFile *f = luaL_checkudata(L, 1, RW_WANDBFILE);
  if (f->r) {
    rw_wbr_close(f->r);
    f->r = NULL;
  }
  return 0;
}

static int wbf_tostring(lua_State *L) {
  LWandbFile *f = luaL_checkudata(L, 1, RW_WANDBFILE);
  if (!f->r) lua_pushliteral(L, RW_WANDBFILE " (closed)");
  else
    lua_pushfstring(L, RW_WANDBFILE " (%s @ %I)", rw_wbr_name(f->r), (lua_Integer)rw_wbr_offset(f->r));
  return 1;
}

/* }====== */

/* ====================================================================== */
/* {====== inspect */

static void set_count(lua_State *L, const char *k, uint64_t v) {
  lua_pushinteger(L, (lua_Integer)v);
  lua_setfield(L, -2, k);
}

static void set_bool(lua_State *L, const char *k, int v) {
  lua_pushboolean(L, v);
  lua_setfield(L, -2, k);
}

static int cmp_strings(lua_State *L) {
  lua_pushboolean(L, strcmp(lua_tostring(L, 1), lua_tostring(L, 2)) < 0);
  return 1;
}

/*
 * wandbfile.inspect(path) -> summary table | nil, err. Reads the whole file once (no
 * output text) and sums it up for `runwatch inspect`; see docs/wandb-file.md.
 */
static int wbf_inspect(lua_State *L) {
  const char *path = luaL_checkstring(L, 1);
  char msg[300];
  rw_wb_record rec;
  rw_wb_error err;
  const rw_wb_counts *k;
  int st, i, top, nkeys = 0, nerr = 0, fatal = 0, have_run = 0;
  LWandbFile *f;
  uint64_t size;
  lua_settop(L, 1);
  /* The reader lives in a userdata so that a memory error cannot leak it. */
  f = lua_newuserdatauv(L, sizeof *f, 1);       /* 2 */
  f->r = NULL;
  f->output = 0;
  f->fatal_kept = 0;
  f->nerrors = 0;
  luaL_setmetatable(L, RW_WANDBFILE);
  f->r = rw_wbr_open(path, 0, NULL, msg, sizeof msg);
  if (!f->r) {
    luaL_pushfail(L);
    lua_pushstring(L, msg);
    return 2;
  }
  lua_newtable(L);                               /* 3: result */
  lua_newtable(L);                               /* 4: set of history keys */
  lua_newtable(L);                               /* 5: errors */
  lua_newtable(L);                               /* 6: run */
  top = lua_gettop(L);
  while ((st = rw_wbr_next(f->r, &rec, &err)) != RW_WB_AGAIN) {
    if (st != RW_WB_RECORD) {
      if (++nerr <= RW_WB_MAX_ERRORS) {
        push_error(L, &err);
        lua_rawseti(L, 5, nerr);
      }
      if (st == RW_WB_FATAL) { fatal = 1; break; }
      continue;
    }
    if (rec.type == RW_WB_T_HISTORY) {
      size_t j;
      push_items(L, &rec, RW_WB_L_ITEMS);
      for (j = 1; lua_rawgeti(L, -1, (lua_Integer)j) == LUA_TTABLE; j++) {
        lua_getfield(L, -1, "key");
        if (lua_rawget(L, 4) == LUA_TNIL) {      /* value not seen: add it */
          lua_getfield(L, -2, "key");
          lua_pushboolean(L, 1);
          lua_rawset(L, 4);
          nkeys++;
        }
        lua_pop(L, 2);
      }
      lua_pop(L, 2);
    } else if (rec.type == RW_WB_T_RUN && !have_run) {
      have_run = 1;
      lua_pushvalue(L, 6);
      set_str(L, "run_id", rec.run_id);
      set_str(L, "entity", rec.entity);
      set_str(L, "project", rec.project);
      set_str(L, "display_name", rec.display_name);
      set_str(L, "host", rec.host);
      set_time(L, "start_time", &rec.start_time);
      lua_pop(L, 1);
    } else if (rec.type == RW_WB_T_HEADER) {
      lua_pushvalue(L, 3);
      set_str(L, "producer", rec.producer);
      lua_pop(L, 1);
    }
    lua_settop(L, top);
  }
  k = rw_wbr_counts(f->r);
  size = (uint64_t)rw_wbr_size(f->r);
  lua_pushvalue(L, 3);
  lua_pushstring(L, path);
  lua_setfield(L, -2, "path");
  set_count(L, "size", size);
  set_count(L, "bytes_read", rw_wbr_position(f->r) < size ? rw_wbr_position(f->r) : size);
  set_count(L, "records", k->records);
  lua_newtable(L);
  for (i = 0; i < RW_WB_NTYPES; i++)
    if (k->by_type[i]) set_count(L, rw_wb_type_name(i), k->by_type[i]);
  lua_setfield(L, -2, "counts");
  set_count(L, "history_rows", k->history_rows);
  if (k->has_step) {
    set_int(L, "first_step", k->first_step);
    set_int(L, "last_step", k->last_step);
  }
  /* history keys, sorted */
  lua_createtable(L, nkeys, 0);
  i = 0;
  lua_pushnil(L);
  while (lua_next(L, 4)) {
    lua_pop(L, 1);
    lua_pushvalue(L, -1);
    lua_rawseti(L, -3, ++i);
  }
  lua_getglobal(L, "table");
  lua_getfield(L, -1, "sort");
  lua_remove(L, -2);
  if (lua_isfunction(L, -1)) {
    lua_pushvalue(L, -2);
    lua_pushcfunction(L, cmp_strings);
    lua_call(L, 2, 0);
  } else lua_pop(L, 1);
  lua_setfield(L, -2, "keys");
  set_bool(L, "has_exit", k->has_exit);
  if (k->has_exit) {
    set_int(L, "exit_code", k->exit_code);
    set_int(L, "runtime", k->exit_runtime);
  }
  set_bool(L, "has_footer", k->has_footer);
  lua_pushvalue(L, 5);
  lua_setfield(L, -2, "errors");
  set_count(L, "error_count", (uint64_t)nerr);
  set_count(L, "bytes_skipped", k->bytes_skipped);
  if (fatal) set_bool(L, "fatal", 1);
  /* Bytes at the end that do not make a complete record yet (a live or cut-off file). */
  if (rw_wbr_offset(f->r) < size) {
    lua_createtable(L, 0, 2);
    set_count(L, "offset", rw_wbr_offset(f->r));
    set_count(L, "bytes", size - rw_wbr_offset(f->r));
    lua_setfield(L, -2, "tail");
  }
  set_bool(L, "complete", k->has_exit && rw_wbr_offset(f->r) >= size && !fatal);
  lua_pushstring(L, rw_wbr_alignment(f->r) == RW_WB_ALIGN_OLD ? "old" : "standard");
  lua_setfield(L, -2, "alignment");
  lua_newtable(L);
  set_count(L, "full", k->chunks_full);
  set_count(L, "first", k->chunks_first);
  set_count(L, "middle", k->chunks_middle);
  set_count(L, "last", k->chunks_last);
  set_count(L, "pads", k->pads);
  set_count(L, "pad_bytes", k->pad_bytes);
  lua_setfield(L, -2, "chunks");
  if (have_run) {
    lua_pushvalue(L, 6);
    lua_setfield(L, -2, "run");
  }
  rw_wbr_close(f->r);
  f->r = NULL;
  return 1;
}

/* }====== */

static const luaL_Reg wbf_funcs[] = {
  {"open", wbf_open},
  {"inspect", wbf_inspect},
  {"stat", wbf_inspect},
  {NULL, NULL}
};

static const luaL_Reg wbf_methods[] = {
  {"read", wbf_read},
  {"records", wbf_records},
  {"errors", wbf_errors},
  {"offset", wbf_offset},
  {"size", wbf_size},
  {"close", wbf_close},
  {NULL, NULL}
};

static const luaL_Reg wbf_metamethods[] = {
  {"__gc", wbf_close},
  {"__close", wbf_close},
  {"__tostring", wbf_tostring},
  {"__index", NULL},
  {NULL, NULL}
};

int luaopen_runwatch_wandbfile(lua_State *L) {
  if (luaL_newmetatable(L, RW_WANDBFILE)) {
    luaL_setfuncs(L, wbf_metamethods, 0);
    luaL_newlibtable(L, wbf_methods);
    luaL_setfuncs(L, wbf_methods, 0);
    lua_setfield(L, -2, "__index");
  }
  lua_pop(L, 1);
  luaL_newlib(L, wbf_funcs);
  lua_pushinteger(L, RW_WB_BLOCK);
  lua_setfield(L, -2, "BLOCK");
  return 1;
}
