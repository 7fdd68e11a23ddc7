//! Redis 7 function libraries: `#!lua name=<lib>` code that registers
//! functions with `redis.register_function`, kept compiled in an interpreter
//! of their own (SCRIPT FLUSH does not touch them, as in Redis).
//!
//! Loading mirrors Redis's `functionsCreateWithLibraryCtx`: the shebang is
//! parsed, the code compiled and run with only the load API in reach
//! (`redis.register_function`, `redis.log`, the version fields), under a
//! 500 ms limit; a library that fails anywhere is refused whole, with Redis's
//! error text. Each library runs in an environment table of its own whose
//! lookups go to the load API while it loads and to the full sandbox after,
//! so its functions see `redis.call` at run time and never at load time.
//!
//! Knows nothing of commands: `cmd::function` runs the functions.

use std::cell::RefCell;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use bytes::Bytes;
use indexmap::IndexMap;
use mlua::{Function, MultiValue, Table, Value as LV};

use super::Engine;

/// Function flags (`flags = {...}` in the table form of `register_function`).
pub(crate) mod fflags {
    /// May not write (FCALL_RO may run it).
    pub(crate) const NO_WRITES: u32 = 1;
    /// May run when memory is over maxmemory.
    pub(crate) const ALLOW_OOM: u32 = 1 << 1;
    /// May run on a stale replica.
    pub(crate) const ALLOW_STALE: u32 = 1 << 2;
    /// Refused in cluster mode.
    pub(crate) const NO_CLUSTER: u32 = 1 << 3;
    /// May touch keys of several slots.
    pub(crate) const ALLOW_CROSS_SLOT: u32 = 1 << 4;
    /// Names in Redis's order (FUNCTION LIST shows them in it).
    pub(crate) const NAMES: [(u32, &str); 5] = [
        (NO_WRITES, "no-writes"),
        (ALLOW_OOM, "allow-oom"),
        (ALLOW_STALE, "allow-stale"),
        (NO_CLUSTER, "no-cluster"),
        (ALLOW_CROSS_SLOT, "allow-cross-slot-keys"),
    ];
}

/// How long FUNCTION LOAD may run a library's top level.
const LOAD_TIMEOUT: Duration = Duration::from_millis(500);

/// Redis's check on library and function names.
const BAD_NAME: &str = "Library names can only contain letters, numbers, or underscores(_) and must be at least one character long";

/// One registered function.
pub(crate) struct FunctionInfo {
    /// Its name as registered.
    pub(crate) name: String,
    /// `description`, if given.
    pub(crate) desc: Option<Bytes>,
    /// [`fflags`].
    pub(crate) flags: u32,
    /// The Lua callback.
    pub(crate) callback: Function,
}

/// One loaded library.
pub(crate) struct Library {
    /// `name=` from the shebang.
    pub(crate) name: String,
    /// The code as loaded (shebang included): what FUNCTION LIST WITHCODE,
    /// FUNCTION DUMP and the log's rewrite give back.
    pub(crate) code: Bytes,
    /// Its functions in registration order.
    pub(crate) functions: Vec<FunctionInfo>,
}

/// A set of libraries and the index of their functions (case-insensitive,
/// as Redis's function dictionary is).
#[derive(Default)]
pub(crate) struct Libraries {
    libs: IndexMap<String, Library>,
    /// Lowercased function name → library name.
    index: HashMap<String, String>,
}

impl Libraries {
    /// The libraries in load order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = &Library> {
        self.libs.values()
    }

    /// Number of libraries.
    pub(crate) fn len(&self) -> usize {
        self.libs.len()
    }

    /// Number of functions.
    pub(crate) fn function_count(&self) -> usize {
        self.index.len()
    }

    /// A function by name (case-insensitive).
    pub(crate) fn function(&self, name: &[u8]) -> Option<&FunctionInfo> {
        let key = String::from_utf8_lossy(name).to_lowercase();
        let lib = self.libs.get(self.index.get(&key)?)?;
        lib.functions.iter().find(|f| f.name.to_lowercase() == key)
    }

    fn unlink(&mut self, name: &str) -> Option<Library> {
        let lib = self.libs.shift_remove(name)?;
        for f in &lib.functions {
            self.index.remove(&f.name.to_lowercase());
        }
        Some(lib)
    }

    fn link(&mut self, lib: Library) {
        for f in &lib.functions {
            self.index
                .entry(f.name.to_lowercase())
                .or_insert_with(|| lib.name.clone());
        }
        self.libs.insert(lib.name.clone(), lib);
    }

    /// The first function of `lib` whose name is taken here.
    fn collision<'a>(&self, lib: &'a Library) -> Option<&'a str> {
        lib.functions
            .iter()
            .find(|f| self.index.contains_key(&f.name.to_lowercase()))
            .map(|f| f.name.as_str())
    }

    /// Removes a library; false if there is none of that name.
    pub(crate) fn delete(&mut self, name: &[u8]) -> bool {
        self.unlink(&String::from_utf8_lossy(name)).is_some()
    }

    /// Moves every library of `src` in (Redis's `libraryJoin`): on a name
    /// clash, `replace` swaps the old library out, otherwise nothing
    /// changes; a function name taken by another library refuses it all.
    pub(crate) fn join(&mut self, src: Libraries, replace: bool) -> Result<(), String> {
        let mut old = Vec::new();
        let mut result = Ok(());
        for name in src.libs.keys() {
            if self.libs.contains_key(name) {
                if !replace {
                    result = Err(format!("Library {name} already exists"));
                    break;
                }
                old.extend(self.unlink(name));
            }
        }
        if result.is_ok() {
            if let Some(f) = src.libs.values().find_map(|l| self.collision(l)) {
                result = Err(format!("Function {f} already exists"));
            }
        }
        if result.is_err() {
            for lib in old {
                self.link(lib);
            }
            return result;
        }
        for (_, lib) in src.libs {
            self.link(lib);
        }
        Ok(())
    }
}

/// The function interpreter and the load API its libraries see.
pub(crate) struct FunctionEngine {
    /// The interpreter (the same sandbox EVAL gets).
    pub(crate) eng: Engine,
    /// What a library's globals resolve to while it loads.
    load_api: Table,
    /// Raises "Attempt to modify a readonly table" (a library's `__newindex`).
    readonly: Function,
}

/// Lua side of the load API: a table whose missing fields raise Redis's
/// error at the caller's line.
const PROTECT: &str = r#"
local setmetatable, error, tostring = setmetatable, error, tostring
local function readonly()
  error("Attempt to modify a readonly table", 2)
end
local function protect(t)
  return setmetatable(t, {
    __index = function(_, k)
      error("Script attempted to access nonexistent global variable '" .. tostring(k) .. "'", 2)
    end,
    __newindex = readonly,
  })
end
return protect, readonly
"#;

/// An error `redis.register_function` (or the load timeout) raises: Redis
/// reports it without a script position.
#[derive(Debug)]
struct LoadError(String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

fn load_err(msg: &str) -> mlua::Error {
    mlua::Error::external(LoadError(msg.to_string()))
}

/// What a library's shebang says.
struct Meta {
    engine: String,
    name: String,
    /// The code after the shebang line (from its newline on, so line
    /// numbers count the shebang as line 1, as in Redis).
    body_at: usize,
}

fn parse_meta(code: &[u8]) -> Result<Meta, String> {
    if !code.starts_with(b"#!") {
        return Err("Missing library metadata".into());
    }
    let Some(nl) = code.iter().position(|&b| b == b'\n') else {
        return Err("Invalid library metadata".into());
    };
    let parts = match crate::resp::split_args(&code[..nl]) {
        Some(p) if !p.is_empty() => p,
        _ => return Err("Invalid library metadata".into()),
    };
    let engine = String::from_utf8_lossy(&parts[0][2..]).into_owned();
    let mut name = None;
    for part in &parts[1..] {
        if part.len() >= 5 && part[..5].eq_ignore_ascii_case(b"name=") {
            if name.is_some() {
                return Err(
                    "Invalid metadata value, name argument was given multiple times".into(),
                );
            }
            name = Some(String::from_utf8_lossy(&part[5..]).into_owned());
            continue;
        }
        return Err(format!(
            "Invalid metadata value given: {}",
            String::from_utf8_lossy(part)
        ));
    }
    let Some(name) = name else {
        return Err("Library name was not given".into());
    };
    Ok(Meta {
        engine,
        name,
        body_at: nl,
    })
}

fn valid_name(n: &str) -> bool {
    !n.is_empty() && n.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'_')
}

/// A Lua value as `lua_isstring` sees it: strings and numbers.
fn lua_string(v: &LV) -> Option<Vec<u8>> {
    match v {
        LV::String(s) => Some(s.as_bytes().to_vec()),
        LV::Integer(n) => Some(n.to_string().into_bytes()),
        LV::Number(n) => Some(crate::resp::fmt_g(*n, 14).into_bytes()),
        _ => None,
    }
}

/// One `register_function` call, checked as Redis checks it.
fn read_registration(args: MultiValue) -> Result<FunctionInfo, String> {
    let args: Vec<LV> = args.into_iter().collect();
    match args.len() {
        1 => {
            let LV::Table(t) = &args[0] else {
                return Err("calling redis.register_function with a single argument is only applicable to Lua table (representing named arguments).".into());
            };
            let (mut name, mut desc, mut callback, mut flags) = (None, None, None, 0);
            for pair in t.clone().pairs::<LV, LV>() {
                let (k, v) = pair.map_err(|e| e.to_string())?;
                let Some(k) = lua_string(&k) else {
                    return Err(
                        "named argument key given to redis.register_function is not a string"
                            .into(),
                    );
                };
                let k = String::from_utf8_lossy(&k).to_ascii_lowercase();
                match k.as_str() {
                    "function_name" => {
                        name = Some(lua_string(&v).ok_or("function_name argument given to redis.register_function must be a string")?);
                    }
                    "description" => {
                        desc = Some(lua_string(&v).ok_or("description argument given to redis.register_function must be a string")?);
                    }
                    "callback" => match v {
                        LV::Function(f) => callback = Some(f),
                        _ => return Err(
                            "callback argument given to redis.register_function must be a function"
                                .into(),
                        ),
                    },
                    "flags" => {
                        let LV::Table(ft) = v else {
                            return Err("flags argument to redis.register_function must be a table representing function flags".into());
                        };
                        flags = read_flags(&ft).ok_or("unknown flag given")?;
                    }
                    _ => return Err("unknown argument given to redis.register_function".into()),
                }
            }
            let name = name.ok_or("redis.register_function must get a function name argument")?;
            let callback =
                callback.ok_or("redis.register_function must get a callback argument")?;
            Ok(FunctionInfo {
                name: String::from_utf8_lossy(&name).into_owned(),
                desc: desc.map(Bytes::from),
                flags,
                callback,
            })
        }
        2 => {
            let name = lua_string(&args[0])
                .ok_or("first argument to redis.register_function must be a string")?;
            let LV::Function(callback) = args[1].clone() else {
                return Err("second argument to redis.register_function must be a function".into());
            };
            Ok(FunctionInfo {
                name: String::from_utf8_lossy(&name).into_owned(),
                desc: None,
                flags: 0,
                callback,
            })
        }
        _ => Err("wrong number of arguments to redis.register_function".into()),
    }
}

/// The flags array; None on an unknown flag.
fn read_flags(t: &Table) -> Option<u32> {
    let mut flags = 0;
    let mut i = 1;
    loop {
        let v: LV = t.raw_get(i).ok()?;
        if v.is_nil() {
            return Some(flags);
        }
        let s = lua_string(&v)?;
        let (bit, _) = fflags::NAMES
            .iter()
            .find(|(_, n)| n.as_bytes().eq_ignore_ascii_case(&s))?;
        flags |= bit;
        i += 1;
    }
}

impl FunctionEngine {
    /// A fresh interpreter with the load API.
    pub(crate) fn new() -> mlua::Result<FunctionEngine> {
        let eng = Engine::new()?;
        let lua = &eng.lua;
        let (protect, readonly): (Function, Function) =
            lua.load(PROTECT).set_name("=protect").eval()?;
        let full: Table = lua.globals().raw_get("redis")?;
        let redis = lua.create_table()?;
        for k in [
            "LOG_DEBUG",
            "LOG_VERBOSE",
            "LOG_NOTICE",
            "LOG_WARNING",
            "REDIS_VERSION",
            "REDIS_VERSION_NUM",
        ] {
            redis.raw_set(k, full.raw_get::<LV>(k)?)?;
        }
        redis.raw_set(
            "log",
            lua.create_function(|_, args: MultiValue| {
                if args.len() < 2 {
                    return Err(load_err("redis.log() requires two arguments or more."));
                }
                Ok(())
            })?,
        )?;
        let redis: Table = protect.call(redis)?;
        let api = lua.create_table()?;
        api.raw_set("redis", redis)?;
        let load_api: Table = protect.call(api)?;
        Ok(FunctionEngine {
            eng,
            load_api,
            readonly,
        })
    }

    /// Compiles and runs a library's code into `libs` (Redis's
    /// `functionsCreateWithLibraryCtx`). `timeout` is None when replaying
    /// the log (Redis does not time out what it must obey). Returns the
    /// library's name, or Redis's error text.
    pub(crate) fn create(
        &self,
        libs: &mut Libraries,
        code: &[u8],
        replace: bool,
        timeout: bool,
    ) -> Result<String, String> {
        let meta = parse_meta(code)?;
        if !valid_name(&meta.name) {
            return Err(BAD_NAME.into());
        }
        if !meta.engine.eq_ignore_ascii_case("lua") {
            return Err(format!("Engine '{}' not found", meta.engine));
        }
        if libs.libs.contains_key(&meta.name) && !replace {
            return Err(format!("Library '{}' already exists", meta.name));
        }
        let functions = self.run_library(&code[meta.body_at..], timeout)?;
        if functions.is_empty() {
            return Err("No functions registered".into());
        }
        let lib = Library {
            name: meta.name.clone(),
            code: Bytes::copy_from_slice(code),
            functions,
        };
        let old = libs.unlink(&meta.name);
        if let Some(f) = libs.collision(&lib) {
            let e = format!("Function {f} already exists");
            if let Some(o) = old {
                libs.link(o);
            }
            return Err(e);
        }
        libs.link(lib);
        Ok(meta.name)
    }

    /// Runs the code with the load API and collects what it registers.
    fn run_library(&self, body: &[u8], timeout: bool) -> Result<Vec<FunctionInfo>, String> {
        let lua = &self.eng.lua;
        let lua_err = |e: mlua::Error| e.to_string();
        let env = lua.create_table().map_err(lua_err)?;
        let mt = lua.create_table().map_err(lua_err)?;
        mt.raw_set("__index", self.load_api.clone())
            .map_err(lua_err)?;
        mt.raw_set("__newindex", self.readonly.clone())
            .map_err(lua_err)?;
        env.set_metatable(Some(mt.clone()));
        let chunk = lua
            .load(body)
            .set_name("@user_function")
            .set_environment(env)
            .into_function()
            .map_err(|e| {
                let msg = match e {
                    mlua::Error::SyntaxError { message, .. } => message,
                    other => other.to_string(),
                };
                format!(
                    "Error compiling function: {}",
                    first_line(&msg).replace("[string \"user_function\"]", "user_function")
                )
            })?;
        let registered: RefCell<Vec<FunctionInfo>> = RefCell::new(Vec::new());
        if timeout {
            let started = Instant::now();
            lua.set_hook(
                mlua::HookTriggers::new().every_nth_instruction(100_000),
                move |_, _| {
                    if started.elapsed() > LOAD_TIMEOUT {
                        Err(load_err("FUNCTION LOAD timeout"))
                    } else {
                        Ok(mlua::VmState::Continue)
                    }
                },
            );
        }
        let load_redis: Table = self.load_api.raw_get("redis").map_err(lua_err)?;
        let ran = lua.scope(|scope| {
            let reg = scope.create_function(|_, args: MultiValue| {
                let f = read_registration(args).map_err(|e| load_err(&e))?;
                if !valid_name(&f.name) {
                    return Err(load_err(BAD_NAME));
                }
                let mut r = registered.borrow_mut();
                if r.iter().any(|x| x.name == f.name) {
                    return Err(load_err("Function already exists in the library"));
                }
                r.push(f);
                Ok(())
            })?;
            load_redis.raw_set("register_function", reg)?;
            let r = chunk.call::<()>(());
            let _ = load_redis.raw_set("register_function", LV::Nil);
            Ok(r)
        });
        if timeout {
            lua.remove_hook();
        }
        let ran = ran.map_err(lua_err)?;
        if let Err(e) = ran {
            return Err(format!("Error registering functions: {}", load_message(&e)));
        }
        // From now on the library's globals are the full sandbox.
        mt.raw_set("__index", lua.globals()).map_err(lua_err)?;
        Ok(registered.into_inner())
    }
}

fn first_line(s: &str) -> &str {
    s.lines().next().unwrap_or("").trim()
}

/// An error raised while a library loads, as Redis words it.
fn load_message(e: &mlua::Error) -> String {
    match e {
        mlua::Error::CallbackError { cause, .. } => load_message(cause),
        mlua::Error::ExternalError(x) => match x.downcast_ref::<LoadError>() {
            Some(l) => format!("ERR {}", l.0),
            None => format!("ERR {x}"),
        },
        mlua::Error::RuntimeError(s) => format!(
            "ERR {}",
            first_line(s).replace("[string \"user_function\"]", "user_function")
        ),
        other => format!("ERR {}", first_line(&other.to_string())),
    }
}

/// Every function library and the interpreter they live in.
#[derive(Default)]
pub(crate) struct Functions {
    /// Created on the first FUNCTION LOAD; FUNCTION FLUSH drops it. FCALL
    /// takes it out while a function runs.
    pub(crate) engine: Option<FunctionEngine>,
    /// What is loaded.
    pub(crate) libs: Libraries,
}

impl Functions {
    /// The interpreter, created on first use.
    pub(crate) fn engine(&mut self) -> Result<&mut FunctionEngine, String> {
        if self.engine.is_none() {
            self.engine = Some(FunctionEngine::new().map_err(|e| format!("Lua init failed: {e}"))?);
        }
        Ok(self.engine.as_mut().expect("just set"))
    }

    /// FUNCTION LOAD.
    pub(crate) fn load(
        &mut self,
        code: &[u8],
        replace: bool,
        timeout: bool,
    ) -> Result<String, String> {
        self.engine()?;
        let eng = self.engine.as_ref().expect("created");
        eng.create(&mut self.libs, code, replace, timeout)
    }

    /// Loads codes into a fresh set (FUNCTION RESTORE), refusing the whole
    /// set on the first error.
    pub(crate) fn compile_all(&mut self, codes: &[Vec<u8>]) -> Result<Libraries, String> {
        self.engine()?;
        let eng = self.engine.as_ref().expect("created");
        let mut fresh = Libraries::default();
        for c in codes {
            eng.create(&mut fresh, c, false, false)?;
        }
        Ok(fresh)
    }

    /// FUNCTION FLUSH: every library and the interpreter go.
    pub(crate) fn flush(&mut self) {
        self.libs = Libraries::default();
        self.engine = None;
    }

    /// The code of every library (the log's rewrite loads them first).
    pub(crate) fn codes(&self) -> Vec<Bytes> {
        self.libs.iter().map(|l| l.code.clone()).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(f: &mut Functions, code: &str) -> Result<String, String> {
        f.load(code.as_bytes(), false, true)
    }

    #[test]
    fn loads_both_forms_and_refuses_bad_libraries_whole() {
        let mut f = Functions::default();
        assert_eq!(
            load(
                &mut f,
                "#!lua name=lib\nredis.register_function('a', function() return 1 end)\nredis.register_function{function_name='b', callback=function() end, flags={'no-writes'}, description='d'}"
            ),
            Ok("lib".into())
        );
        let b = f.libs.function(b"B").expect("case-insensitive");
        assert_eq!(b.flags, fflags::NO_WRITES);
        assert_eq!(b.desc.as_deref(), Some(&b"d"[..]));
        assert_eq!(
            load(
                &mut f,
                "#!lua name=x\nredis.register_function('z', function() end) syntax error"
            ),
            Err("Error compiling function: user_function:2: '=' expected near 'error'".into())
        );
        assert_eq!(
            load(&mut f, "#!lua name=x\nredis.register_function('z', function() end)\nredis.register_function('z', function() end)"),
            Err("Error registering functions: ERR Function already exists in the library".into())
        );
        assert_eq!(
            load(&mut f, "#!lua name=x\nredis.register_function('z', function() end)\nredis.register_function('A', function() end)"),
            Err("Function A already exists".into())
        );
        assert!(f.libs.function(b"z").is_none(), "refused whole");
        assert_eq!(
            load(&mut f, "#!lua name=x\nredis.call('ping')"),
            Err("Error registering functions: ERR user_function:2: Script attempted to access nonexistent global variable 'call'".into())
        );
        assert_eq!(
            load(&mut f, "#!lua name=x\nx = 1"),
            Err("Error registering functions: ERR user_function:2: Attempt to modify a readonly table".into())
        );
        assert_eq!(
            load(&mut f, "#!lua name=x\nwhile true do end"),
            Err("Error registering functions: ERR FUNCTION LOAD timeout".into())
        );
        assert_eq!(
            load(&mut f, "#!lua name=x\nlocal a = 1"),
            Err("No functions registered".into())
        );
        assert_eq!(
            load(&mut f, "#!lua name=lib\n"),
            Err("Library 'lib' already exists".into())
        );
        assert_eq!(
            load(&mut f, "#!py name=y\n"),
            Err("Engine 'py' not found".into())
        );
        assert_eq!(
            load(&mut f, "#!lua name=a b\n"),
            Err("Invalid metadata value given: b".into())
        );
        assert_eq!(
            load(&mut f, "#!lua name=a"),
            Err("Invalid library metadata".into())
        );
        assert_eq!(
            load(&mut f, "return 1"),
            Err("Missing library metadata".into())
        );
        assert_eq!(f.libs.len(), 1);
        assert_eq!(f.libs.function_count(), 2);
    }
}
