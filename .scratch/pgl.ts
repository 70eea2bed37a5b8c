import { PGlite } from '@electric-sql/pglite';
const db = new PGlite();
await db.exec(`create function f(a int) returns table(x int, y text) language plpgsql as $$ begin perform set_config('enable_bitmapscan','off',true); return query execute 'select $1 + 1, current_setting(''enable_bitmapscan'')' using a; end $$;`);
console.log((await db.query('select * from f(1)')).rows);
